"""The one place numba is imported: a typed ``@jit`` (numba ships no type information)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F) -> F:
    """``numba.njit(cache=True)``: compiled on first call, the machine code cached on disk next
    to the module (``__pycache__``) so later processes load it instead of compiling again."""
    return cast(F, numba.njit(cache=True)(fn))


def inline(fn: F) -> F:
    """A helper of the main loop, inlined into it at numba's IR level: a call to a separately
    compiled function pays a reference-count update per array argument, which for the handful
    of small helpers called at every event cost more than their work."""
    return cast(F, numba.njit(cache=True, inline="always")(fn))
