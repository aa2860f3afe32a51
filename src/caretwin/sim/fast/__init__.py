"""The fast engine core: the reference engine's semantics, jitted with numba.

``run_replication_fast(model, seed, rep)`` returns the same :class:`ReplicationResult`, KPI for
KPI and bit for bit, as ``Engine(model, seed, rep).run()``, several times faster; see
:mod:`.loop` for how. numba is imported only when a fast run starts, so ``import caretwin``
does not pay for it, and the machine code is cached on disk after the first compilation.
"""

from __future__ import annotations

import copy
import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caretwin.sim.compiled import CompiledModel
    from caretwin.sim.result import ReplicationResult

__all__ = ["available", "run_replication_fast", "supports", "warm_up"]

_warm = False


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


def warm_up(model: CompiledModel) -> None:
    """Compile the jitted loop (or load it from the on-disk cache) in this process, once.

    Called before worker processes start so that they find the machine code in the cache
    instead of each paying the first compilation. The loop's argument types do not depend on
    the model, so one replication of a one-hour horizon compiles it for every model.
    """
    global _warm
    if _warm:
        return
    tiny = copy.copy(model)
    tiny.warmup_h, tiny.window_end_h, tiny.horizon_h = 0.0, 1.0, 1.0
    run_replication_fast(tiny, 0, 0)
    _warm = True
