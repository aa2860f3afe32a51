"""Replications: run a definition many times, in parallel if asked, and summarise.

Replication ``i`` draws only from streams keyed by ``(seed, i, ...)``, so results are identical
whatever the number of workers or the order in which workers finish.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from caretwin.errors import SimulationError
from caretwin.model.definition import TwinDefinition
from caretwin.sim.compiled import CompiledModel, compile_definition
from caretwin.sim.engine import Engine
from caretwin.sim.result import ReplicationResult, SimulationResult, summarise
from caretwin.sim.trace import Trace, TraceRecorder

Progress = Callable[[int], None]


def run_replication(model: CompiledModel, seed: int, replication: int) -> ReplicationResult:
    return Engine(model, seed, replication).run()


def _worker(args: tuple[CompiledModel, int, int]) -> ReplicationResult:
    model, seed, rep = args
    return run_replication(model, seed, rep)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def simulate(
    defn: TwinDefinition,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    scenario_label: str = "baseline",
    progress: Progress | None = None,
) -> SimulationResult:
    """Run ``replications`` replications of ``defn`` (defaults from its run settings)."""
    reps = replications if replications is not None else defn.run.replications
    root_seed = seed if seed is not None else defn.run.seed
    if reps < 1:
        raise SimulationError("replications must be at least 1")
    model = compile_definition(defn)
    started = time.perf_counter()
    results: list[ReplicationResult] = []
    workers = max(1, min(workers, reps))
    try:
        if workers == 1:
            for i in range(reps):
                results.append(run_replication(model, root_seed, i))
                if progress:
                    progress(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                jobs = [(model, root_seed, i) for i in range(reps)]
                for res in pool.map(_worker, jobs):
                    results.append(res)
                    if progress:
                        progress(1)
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
