"""Replications: run a definition many times, in parallel if asked, and summarise.

Replication ``i`` draws only from streams keyed by ``(seed, i, ...)``, so results are identical
whatever the number of workers or the order in which workers finish.

Two engines run a replication: the reference engine (:mod:`caretwin.sim.engine`, pure Python)
and the fast core (:mod:`caretwin.sim.fast`, numba), which gives bit-identical results for every
model it supports. ``engine="auto"`` takes the fast core when it can and the reference engine
otherwise; the choice never changes a number, only the time it takes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Literal

from caretwin.errors import SimulationError
from caretwin.model.definition import TwinDefinition
from caretwin.sim.compiled import CompiledModel, compile_definition
from caretwin.sim.engine import Engine
from caretwin.sim.executors import ExecutorKind, map_replications
from caretwin.sim.result import ReplicationResult, SimulationResult, summarise
from caretwin.sim.trace import Trace, TraceRecorder

Progress = Callable[[int], None]
EngineChoice = Literal["auto", "fast", "reference"]
EngineName = Literal["fast", "reference"]

log = logging.getLogger(__name__)


def resolve_engine(model: CompiledModel, engine: EngineChoice = "auto") -> EngineName:
    """The engine that runs ``model``: ``"fast"`` asked for but impossible is an error, ``"auto"``
    falls back to the reference engine (and logs why)."""
    if engine == "reference":
        return "reference"
    from caretwin.sim import fast  # light: numba itself loads only when a fast run starts

    reason = fast.supports(model)
    if reason is None:
        return "fast"
    if engine == "fast":
        raise SimulationError(f"the fast engine cannot run this model: {reason}")
    log.info("fast engine not used (%s); running the reference engine", reason)
    return "reference"


def run_replication(
    model: CompiledModel, seed: int, replication: int, engine: EngineName = "reference"
) -> ReplicationResult:
    if engine == "fast":
        from caretwin.sim.fast import run_replication_fast

        return run_replication_fast(model, seed, replication)
    return Engine(model, seed, replication).run()


def _worker(args: tuple[CompiledModel, int, int, EngineName]) -> ReplicationResult:
    model, seed, rep, engine = args
    return run_replication(model, seed, rep, engine)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _prepare(model: CompiledModel, engine: EngineName) -> None:
    """Compile (or load from numba's cache) the fast core once in this process, before workers
    start, so parallel workers load cached machine code instead of each compiling it."""
    if engine == "fast":
        from caretwin.sim.fast import warm_up

        warm_up(model)


def simulate(
    defn: TwinDefinition,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    scenario_label: str = "baseline",
    progress: Progress | None = None,
    engine: EngineChoice = "auto",
    executor: ExecutorKind = "local",
    scheduler: str | None = None,
) -> SimulationResult:
    """Run ``replications`` replications of ``defn`` (defaults from its run settings) on
    ``engine`` (see :func:`resolve_engine`; every engine gives the same numbers), in this
    process (``workers=1``), on local worker processes, or on a Dask cluster
    (``executor="dask"``, ``scheduler`` its address; none starts a local cluster)."""
    reps = replications if replications is not None else defn.run.replications
    root_seed = seed if seed is not None else defn.run.seed
    if reps < 1:
        raise SimulationError("replications must be at least 1")
    model = compile_definition(defn)
    chosen = resolve_engine(model, engine)
    log.info("simulating %s: %d replications on the %s engine", defn.name, reps, chosen)
    started = time.perf_counter()
    workers = max(1, min(workers, reps))
    if (executor == "local" and workers > 1) or executor == "dask":
        _prepare(model, chosen)
    try:
        results: list[ReplicationResult] = map_replications(
            _worker,
            [(model, root_seed, i, chosen) for i in range(reps)],
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            progress=progress,
        )
    except RecursionError as exc:  # pragma: no cover - only for pathological models
        raise SimulationError(f"model too deeply chained to simulate: {exc}") from None
    labels = {k.name: (k.label, k.unit) for k in model.kpis}
    return SimulationResult(
        model_name=defn.name,
        model_hash=defn.content_hash(),
        scenario=scenario_label,
        seed=root_seed,
        replications=results,
        summary=summarise(results, labels),
        wall_seconds=time.perf_counter() - started,
        workers=workers,
        engine=chosen,
        executor=executor,
    )


def trace_run(defn: TwinDefinition, seed: int, horizon_h: float) -> Trace:
    """One replication to ``horizon_h`` hours, recording every event (for the generator)."""
    run = defn.run.model_copy(
        update={
            "run_days": max(horizon_h / 24.0 - defn.run.warmup_days, 1e-9),
            "cooldown_days": 0.0,
        }
    )
    model = compile_definition(defn.model_copy(update={"run": run}))
    model.horizon_h = horizon_h
    recorder = TraceRecorder()
    Engine(model, seed, 0, trace=recorder).run()
    return recorder.finish(
        step_names=[s.name for s in model.steps],
        resource_names=[r.name for r in model.resources],
        pathway_names=model.pathway_names,
        arrival_names=[a.name for a in model.arrivals],
        horizon_h=horizon_h,
    )
