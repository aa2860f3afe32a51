"""The fast engine core: the reference engine's semantics, jitted with numba.

``run_replication_fast(model, seed, rep)`` returns the same :class:`ReplicationResult`, KPI for
KPI and bit for bit, as ``Engine(model, seed, rep).run()``, several times faster; see
:mod:`.loop` for how. numba is imported only when a fast run starts, so ``import caretwin``
does not pay for it, and the machine code is cached on disk after the first compilation.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caretwin.sim.compiled import CompiledModel
    from caretwin.sim.result import ReplicationResult

__all__ = ["available", "run_replication_fast", "supports"]


def available() -> bool:
    """Whether numba can be imported here (the fast core needs it)."""
    return importlib.util.find_spec("numba") is not None


def supports(model: CompiledModel) -> str | None:
    """None when the fast core runs ``model``; otherwise why not (the reference engine then
    runs it under ``engine="auto"``)."""
    if not available():
        return "numba is not installed"
    return None


def run_replication_fast(model: CompiledModel, seed: int, replication: int) -> ReplicationResult:
    from caretwin.sim.fast.run import run_replication_fast as run

    return run(model, seed, replication)
