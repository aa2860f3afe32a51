"""Names a package loads on first use (PEP 562), so that importing it stays cheap at start-up."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["load_lazy"]


def load_lazy(package: str, table: Mapping[str, str], namespace: dict[str, Any], name: str) -> Any:
    """The body of ``package``'s module ``__getattr__``: import ``name`` from the module ``table``
    maps it to and keep it in ``namespace`` (the package's globals), so it loads only once."""
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    namespace[name] = value
    return value
