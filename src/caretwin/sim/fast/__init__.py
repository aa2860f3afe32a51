"""The fast engine core: the reference engine's semantics, jitted with numba.

``run_replication_fast(model, seed, rep)`` returns the same :class:`ReplicationResult`, KPI for
KPI and bit for bit, as ``Engine(model, seed, rep).run()``, several times faster; see
:mod:`.loop` for how. numba is imported only when a fast run starts, so ``import caretwin``
does not pay for it, and the machine code is cached on disk after the first compilation.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caretwin.sim.compiled import CompiledModel
    from caretwin.sim.result import ReplicationResult

__all__ = ["available", "compile_is_due", "run_replication_fast", "supports", "warm_up"]

_warm = False
_checked = False  # the cold-cache check runs once per process, at its first fast replication
# CPU seconds of the first compilation on the reference machine (benchmarks/fixed_costs.py)
COMPILE_S = 25


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

    global _checked
    if _checked:
        return run(model, seed, replication)
    _checked = True
    if not compile_is_due():
        return run(model, seed, replication)
    # the first run after install would otherwise sit silent for tens of seconds
    sys.stderr.write(
        f"caretwin: compiling the fast engine once (first run after install or upgrade, "
        f"about {COMPILE_S} s); later runs load it from the cache\n"
    )
    sys.stderr.flush()
    t0 = time.perf_counter()
    result = run(model, seed, replication)
    sys.stderr.write(f"caretwin: fast engine compiled in {time.perf_counter() - t0:.0f} s\n")
    return result


def compile_is_due() -> bool:
    """Whether the next fast replication in this process compiles the jitted code (no fresh
    machine code in numba's cache: ``__pycache__`` beside the sources, or ``NUMBA_CACHE_DIR``)."""
    from caretwin.sim.fast._jit import cache_is_cold
    from caretwin.sim.fast.kernels import poisson_times
    from caretwin.sim.fast.loop import run_core

    return cache_is_cold(run_core) or cache_is_cold(poisson_times)


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
