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


def cache_is_cold(dispatcher: object) -> bool:
    """Whether numba has no fresh machine code on disk for ``dispatcher``, so its first call
    compiles (the first run after install, or after the sources changed).

    numba has no public way to ask, so this reads its cache index the way numba does (an index
    that is missing, of another numba version or older than the source reads as empty); if
    numba's internals ever differ, it answers False (warm) and the caller merely stays quiet.
    """
    try:
        index = dispatcher._cache._cache_file._load_index()  # type: ignore[attr-defined]  # numba private API, untyped
    except Exception:  # a probe of numba's internals must never fail a run
        return False
    return not index
