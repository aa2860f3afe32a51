"""Results as pandas DataFrames, for notebooks and scripts.

pandas is optional (``pip install 'caretwin[pandas]'``) and imported only when a frame is asked
for: the CLI and the engines never need it, and importing it costs about a second.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from caretwin.errors import ConfigError


def pandas() -> ModuleType:
    """The pandas module, or a clear error saying how to install it."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ConfigError(
            "results as DataFrames need pandas: pip install 'caretwin[pandas]'"
        ) from None
