"""Replications: run a definition many times, in parallel if asked, and summarise.

Replication ``i`` draws only from streams keyed by ``(seed, i, ...)``, so results are identical
whatever the number of workers or the order in which workers finish.

Engines are registered through the ``register_engines`` hook (:mod:`caretwin.plugins`). CareTwin's
own (:mod:`caretwin.sim.plugin`) are the reference engine (:mod:`caretwin.sim.engine`, pure
Python) and the fast core (:mod:`caretwin.sim.fast`, numba), which gives bit-identical results for
every model it supports. ``engine="auto"`` takes the fast core when it can and the reference
engine otherwise; the choice never changes a number, only the time it takes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from caretwin.errors import SimulationError
from caretwin.model.definition import TwinDefinition
from caretwin.plugins.manager import PluginInfo, third_party_refs
from caretwin.sim.compiled import CompiledModel, compile_definition
from caretwin.sim.engine import Engine
from caretwin.sim.executors import ExecutorKind, map_replications
from caretwin.sim.plugin_kpis import add_plugin_kpis, plugin_kpis
from caretwin.sim.result import ReplicationResult, SimulationResult, summarise
from caretwin.sim.trace import Trace, TraceRecorder

if TYPE_CHECKING:
    from numpy.random import SeedSequence

    from caretwin.plugins.specs import EngineSpec

Progress = Callable[[int], None]
#: ``"auto"`` or the name of a registered engine (``caretwin plugins list``).
EngineChoice = str
EngineName = str
RunFn = Callable[[CompiledModel, "SeedSequence"], ReplicationResult]

log = logging.getLogger(__name__)


def engine_names() -> list[str]:
    """``auto`` and every registered engine (built-in and from plugins)."""
    from caretwin.plugins import registry

    return ["auto", *registry.engines()]


def _provider(name: str) -> PluginInfo:
    from caretwin.plugins import registry

    return registry.engines()[name].plugin


def _engine(name: str) -> EngineSpec:
    from caretwin.plugins import registry

    found = registry.engines().get(name)
    if found is None:
        raise SimulationError(
            f"unknown engine {name!r} (engines: {', '.join(engine_names())})",
            details={"engine": name},
        )
    return found.spec


def resolve_engine(model: CompiledModel, engine: EngineChoice = "auto") -> EngineName:
    """The engine that runs ``model``: a named engine that cannot is an error, ``"auto"`` takes
    the first engine by ``auto_rank`` that can (and logs why others could not)."""
    from caretwin.plugins import registry

    if engine != "auto":
        spec = _engine(engine)
        reason = spec.supports(model) if spec.supports else None
        if reason is not None:
            raise SimulationError(f"the {engine} engine cannot run this model: {reason}")
        return engine
    ranked = sorted(
        (p.spec for p in registry.engines().values() if p.spec.auto_rank is not None),
        key=lambda s: (s.auto_rank, s.name),
    )
    for spec in ranked:
        reason = spec.supports(model) if spec.supports else None
        if reason is None:
            return spec.name
        log.info("%s engine not used (%s)", spec.name, reason)
    raise SimulationError("no registered engine can run this model")


def run_replication(
    model: CompiledModel, seed: int, replication: int, engine: EngineName = "reference"
) -> ReplicationResult:
    from caretwin.sim.plugin import replication_seed

    return _engine(engine).run(model, replication_seed(seed, replication))


def _worker(args: tuple[RunFn, CompiledModel, int, int]) -> ReplicationResult:
    from caretwin.sim.plugin import replication_seed

    run, model, seed, rep = args
    return run(model, replication_seed(seed, rep))


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
    spec = _engine(chosen)
    if spec.prepare and ((executor == "local" and workers > 1) or executor == "dask"):
        # e.g. compile the fast core once here, so workers load cached machine code
        spec.prepare(model)
    try:
        results: list[ReplicationResult] = map_replications(
            _worker,
            [(spec.run, model, root_seed, i) for i in range(reps)],
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            progress=progress,
        )
    except RecursionError as exc:  # pragma: no cover - only for pathological models
        raise SimulationError(f"model too deeply chained to simulate: {exc}") from None
    extra = plugin_kpis(defn)
    add_plugin_kpis(extra, model, results)
    labels = {k.name: (k.label, k.unit) for k in model.kpis}
    labels.update({k.name: (k.label, k.unit) for k in extra})
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
        plugins=third_party_refs([_provider(chosen), *(k.plugin for k in extra)]),
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
