"""CareTwin's version, in a module of its own.

The package's ``__init__`` is the public API facade: it names types from every layer, the
service layer included, so no module inside CareTwin imports it (``make lint`` holds that).
Code that records the version (run manifests, reports, synthetic data) imports it from here.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
