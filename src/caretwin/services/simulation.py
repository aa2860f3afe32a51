"""The simulation service: run a model's scenarios, record the run, write its report.

A run records everything needed to re-run it: the model as loaded (``model.yaml`` in the run
folder, so later edits to the source file do not matter), scenarios, replications and seed. The
``simulate`` reproducer registered here re-runs from that record and returns outputs built by the
same function, so ``caretwin reproduce`` compares like with like.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from caretwin.access import Permission
from caretwin.errors import SimulationError
from caretwin.model import apply_scenario, dump_definition, load_definition, scenario_names
from caretwin.model.definition import IntervalKpi, TwinDefinition, WaitKpi
from caretwin.runs import Manifest, RunRecorder, run_dir
from caretwin.services.context import ServiceContext
from caretwin.services.models import resolve_model_path
from caretwin.services.reproduce import register_reproducer
from caretwin.services.results import ServiceResult
from caretwin.services.simulation_results import LoadFigure, ParameterDraws, VarianceShare
from caretwin.sim.executors import ExecutorKind
from caretwin.sim.result import KpiSummary, SimulationResult
from caretwin.sim.runner import EngineChoice, default_workers, simulate
from caretwin.validation import KpiInterval, LoadEstimate, load_uncertainty, simulate_uncertain
from caretwin.validation.uncertainty import DRAW_KEY, REPS_PER_DRAW

if TYPE_CHECKING:
    from caretwin.reports.trust import TrustInput

__all__ = ["EngineWarmup", "KpiEstimate", "SimulationRun", "compile_fast_engine", "simulate_model"]

MODEL_FILE = "model.yaml"
REPORT_FILE = "report.html"

Progress = Callable[[int], None]


class KpiEstimate(ServiceResult):
    """A KPI across replications: mean, 95% CI half-width (t), sd, count, label and unit; under
    parameter uncertainty also the 90 % interval of its expected value and the variance shares
    (``None`` otherwise)."""

    mean: float
    ci95: float
    sd: float
    n: int
    label: str
    unit: str
    interval90: tuple[float, float] | None = None
    variance_share: VarianceShare | None = None

    @classmethod
    def of(cls, s: KpiSummary, iv: KpiInterval | None = None) -> KpiEstimate:
        extra: dict[str, Any] = {}
        if iv is not None:
            extra = {
                "interval90": iv.interval90,
                "variance_share": VarianceShare(
                    parameters=iv.parameters, monte_carlo=iv.monte_carlo
                ),
            }
        return cls(mean=s.mean, ci95=s.ci95, sd=s.sd, n=s.n, label=s.label, unit=s.unit, **extra)


class SimulationRun(ServiceResult):
    """A recorded simulation: the first scenario's figures at top level, every one under
    ``scenarios`` (KPI name to estimate, in the model's KPI order)."""

    run_id: str
    run_dir: Path
    model: str
    model_hash: str
    scenario: str
    replications: int
    seed: int
    engine: str
    executor: str
    workers: int
    events: int
    wall_seconds: float
    kpis: dict[str, KpiEstimate]
    scenarios: dict[str, dict[str, KpiEstimate]]
    report: Path | None
    #: The first scenario's offered load per resource and share of runaway replications.
    load: dict[str, LoadFigure] = Field(default_factory=dict)
    runaway_share: float = 0.0
    parameter_uncertainty: ParameterDraws | None = None

    @classmethod
    def of(
        cls,
        run_id: str,
        folder: Path,
        results: dict[str, SimulationResult],
        report: Path | None,
        extras: RunExtras | None = None,
    ) -> SimulationRun:
        ex = extras or RunExtras()
        scenarios = {
            name: {
                k: KpiEstimate.of(s, ex.intervals.get(name, {}).get(k))
                for k, s in r.summary.items()
            }
            for name, r in results.items()
        }
        first = next(iter(results.values()))
        draws = ex.draws.get(first.scenario)
        return cls(
            run_id=run_id,
            run_dir=folder,
            model=first.model_name,
            model_hash=first.model_hash,
            scenario=first.scenario,
            replications=len(first.replications),
            seed=first.seed,
            engine=first.engine,
            executor=first.executor,
            workers=first.workers,
            events=sum(r.events for r in results.values()),
            wall_seconds=sum(r.wall_seconds for r in results.values()),
            kpis=next(iter(scenarios.values())),
            scenarios=scenarios,
            report=report,
            load={r: LoadFigure.of(e) for r, e in ex.load.get(first.scenario, {}).items()},
            runaway_share=first.runaway_share,
            parameter_uncertainty=None
            if draws is None
            else ParameterDraws(
                draws=draws[0], reps_per_draw=draws[1], entropy=first.seed, spawn_key_tag=DRAW_KEY
            ),
        )


@dataclass
class RunExtras:
    """Per scenario: KPI intervals (parameter uncertainty), load per resource, and the split of
    replications into (draws, replications per draw)."""

    intervals: dict[str, dict[str, KpiInterval]] = field(default_factory=dict)
    load: dict[str, dict[str, LoadEstimate]] = field(default_factory=dict)
    draws: dict[str, tuple[int, int]] = field(default_factory=dict)


def trust_input(results: dict[str, SimulationResult], extras: RunExtras) -> TrustInput:
    """The report's uncertainty, load and stability figures for the first scenario."""
    from caretwin.reports.trust import KpiTrust, LoadRow, TrustInput

    first = next(iter(results.values()))
    intervals = extras.intervals.get(first.scenario, {})
    draws = extras.draws.get(first.scenario)
    return TrustInput(
        scenario=first.scenario,
        replications=len(first.replications),
        runaway=sum(r.runaway for r in first.replications),
        load=[
            LoadRow(r, e.rho, e.rho_interval90, e.p_rho_above_1)
            for r, e in extras.load.get(first.scenario, {}).items()
        ],
        kpis=[
            KpiTrust(k, s.label, s.unit, s.mean, intervals[k].interval90, intervals[k].parameters)
            for k, s in first.summary.items()
            if k in intervals
        ],
        draws=None if draws is None else draws[0],
        reps_per_draw=None if draws is None else draws[1],
    )


def kpi_thresholds(defn: TwinDefinition) -> dict[str, float]:
    """Limits of ``pct_over`` KPIs (e.g. 4 h for ED stays), drawn as markers in reports."""
    return {
        name: k.threshold
        for name, k in defn.kpis.items()
        if isinstance(k, IntervalKpi | WaitKpi) and k.stat == "pct_over" and k.threshold is not None
    }


def _kpis_json(r: SimulationResult, intervals: dict[str, KpiInterval]) -> dict[str, Any]:
    out = {k: s.to_json() for k, s in r.summary.items()}
    for k, iv in intervals.items():
        out[k]["interval90"] = list(iv.interval90)
        out[k]["variance_share"] = {"parameters": iv.parameters, "monte_carlo": iv.monte_carlo}
    return out


def kpi_outputs(
    results: dict[str, SimulationResult], extras: RunExtras | None = None
) -> dict[str, Any]:
    """The run's outputs: KPI summaries of the first scenario at top level, all under scenarios;
    intervals, load and runaway replications where there are any."""
    ex = extras or RunExtras()
    first = next(iter(results.values()))
    return {
        "scenario": first.scenario,
        "kpis": _kpis_json(first, ex.intervals.get(first.scenario, {})),
        "scenarios": {
            name: {
                "kpis": _kpis_json(r, ex.intervals.get(name, {})),
                "per_replication": [rep.kpis for rep in r.replications],
                "events": r.events,
                "runaway_share": r.runaway_share,
                "runaway_replications": [rep.replication for rep in r.replications if rep.runaway],
                "load": {k: e.to_json() for k, e in ex.load.get(name, {}).items()},
            }
            for name, r in results.items()
        },
    }


def run_scenarios(
    defn: TwinDefinition,
    scenarios: Sequence[str],
    *,
    replications: int | None,
    seed: int | None,
    workers: int,
    progress: Progress | None = None,
    engine: EngineChoice = "auto",
    executor: ExecutorKind = "local",
    scheduler: str | None = None,
    reps_per_draw: int | None = None,
    extras: RunExtras | None = None,
) -> dict[str, SimulationResult]:
    """Each scenario's result; with ``reps_per_draw`` under parameter uncertainty, whose
    intervals and draws go into ``extras`` (with every scenario's load)."""
    results: dict[str, SimulationResult] = {}
    for name in scenarios:
        if reps_per_draw is not None:
            u = simulate_uncertain(
                defn,
                replications=replications,
                reps_per_draw=reps_per_draw,
                seed=seed,
                workers=workers,
                scenario=name,
                engine=engine,
                executor=executor,
                scheduler=scheduler,
                progress=progress,
            )
            results[name] = u.simulation
            if extras is not None:
                extras.intervals[name] = u.intervals
                extras.load[name] = u.load
                extras.draws[name] = (u.draws, u.reps_per_draw)
            continue
        if extras is not None:
            run_seed = seed if seed is not None else defn.run.seed
            extras.load[name] = load_uncertainty(defn, run_seed, name, draws=0)
        results[name] = simulate(
            apply_scenario(defn, name),
            replications=replications,
            seed=seed,
            workers=workers,
            scenario_label=name,
            progress=progress,
            engine=engine,
            executor=executor,
            scheduler=scheduler,
        )
    return results


def simulate_model(
    ctx: ServiceContext,
    model: str | Path | TwinDefinition,
    *,
    scenarios: Sequence[str] = ("baseline",),
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    report: bool = True,
    title: str | None = None,
    progress: Progress | None = None,
    data_snapshot_hash: str | None = None,
    engine: EngineChoice = "auto",
    executor: ExecutorKind = "local",
    scheduler: str | None = None,
    started: Progress | None = None,
    saved: Sequence[str] = (),
    parameter_uncertainty: bool = False,
    reps_per_draw: int = REPS_PER_DRAW,
) -> SimulationRun:
    """Simulate ``scenarios`` of a model (path, example name or definition) as one recorded run.

    ``scenarios`` ``["all"]`` means every scenario of the model. ``saved``: saved scenarios
    (``NAME`` or ``NAME@vN``, :mod:`caretwin.services.scenarios`) run after them as ``NAME@vN``,
    with the baseline first when it is not among ``scenarios``, so they can be compared with
    it. ``started`` is called once the scenarios are known to exist, with the number of
    replications the run will report to ``progress``.

    ``parameter_uncertainty`` draws parameter sets from the calibration's recorded uncertainty
    (``replications`` = draws × ``reps_per_draw``) and gives each KPI a 90 % interval of its
    expected value with the variance shares (:mod:`caretwin.validation.uncertainty`).
    """
    if isinstance(model, TwinDefinition):
        defn, target = model, model.name
    else:
        path = resolve_model_path(model)
        defn, target = load_definition(path), str(path)
    names = list(scenarios) or ["baseline"]
    if names == ["all"]:
        names = scenario_names(defn)
    if saved:
        from caretwin.services.scenarios import with_saved_scenarios

        defn, added = with_saved_scenarios(ctx, defn, saved)
        names = [*(["baseline"] if "baseline" not in names else []), *names, *added]
    reps = replications if replications is not None else defn.run.replications
    run_seed = seed if seed is not None else defn.run.seed
    n_workers = workers if workers is not None else default_workers()
    with ctx.operation("sim.run", Permission.SIMULATE, target=target) as op:
        for name in names:  # fail on an unknown scenario before any work is done
            apply_scenario(defn, name)
        if started is not None:
            started(len(names) * reps)
        with RunRecorder.start(
            ctx,
            "simulate",
            defn.name,
            defn.content_hash(),
            scenarios=names,
            seed=run_seed,
            replications=reps,
            # the executor and engine never change a number, only where and how fast it runs
            parameters={
                "workers": n_workers,
                "report": report,
                "engine": engine,
                "executor": executor,
                "scheduler": scheduler,
                "reps_per_draw": reps_per_draw if parameter_uncertainty else None,
            },
            data_snapshot_hash=data_snapshot_hash
            or (defn.provenance or {}).get("data_snapshot_hash"),
        ) as rec:
            op.details.update(run_id=rec.run_id, model_hash=defn.content_hash(), scenarios=names)
            (rec.run_dir / MODEL_FILE).write_text(dump_definition(defn), encoding="utf-8")
            extras = RunExtras()
            with rec.timer("simulate"):
                results = run_scenarios(
                    defn,
                    names,
                    replications=reps,
                    seed=run_seed,
                    workers=n_workers,
                    progress=progress,
                    engine=engine,
                    executor=executor,
                    scheduler=scheduler,
                    reps_per_draw=reps_per_draw if parameter_uncertainty else None,
                    extras=extras,
                )
            outputs = kpi_outputs(results, extras)
            if parameter_uncertainty:
                first = next(iter(extras.draws.values()))
                rec.manifest.parameters["parameter_draws"] = {
                    "draws": first[0],
                    "reps_per_draw": first[1],
                    "seed_sequence_entropy": run_seed,
                    "spawn_keys": [[DRAW_KEY, j] for j in range(first[0])],
                }
            report_path = None
            if report:
                # imported here: jinja2 and the report modules are a fixed cost --no-report skips
                from caretwin.reports import ReportInput, write_report

                with rec.timer("report"):
                    report_path = write_report(
                        ReportInput(
                            title=title or f"{defn.name}: simulation",
                            model_name=defn.name,
                            model_hash=defn.content_hash(),
                            results=results,
                            calibration=defn.provenance,
                            thresholds=kpi_thresholds(defn),
                            trust=trust_input(results, extras),
                            manifest={"run_id": rec.run_id, "seed": run_seed, "replications": reps},
                        ),
                        rec.run_dir / REPORT_FILE,
                    )
            rec.timings["events"] = float(sum(r.events for r in results.values()))
            rec.manifest.parameters["engine_used"] = sorted({r.engine for r in results.values()})
            rec.manifest.plugins = _plugins(results)
            rec.finish(outputs, report_path=report_path)
            op.details["events"] = sum(r.events for r in results.values())
            return SimulationRun.of(rec.run_id, rec.run_dir, results, report_path, extras)


class EngineWarmup(ServiceResult):
    """What compiling the fast engine ahead did: ``compiled`` is False when numba's cache was
    already warm (``seconds`` then times loading it)."""

    compiled: bool
    seconds: float


def compile_fast_engine() -> EngineWarmup:
    """Compile the fast engine into numba's on-disk cache ahead of the first simulate
    (``caretwin warmup``, ``make install``).

    Changes no workspace, so it needs none. The jitted code's argument types do not depend on
    the model, so warming on the shipped reference hospital serves every model.
    """
    from caretwin.sim import fast
    from caretwin.sim.compiled import compile_definition

    if not fast.available():
        raise SimulationError("numba is not installed: the fast engine cannot be compiled")
    due = fast.compile_is_due()
    t0 = time.perf_counter()
    fast.warm_up(compile_definition(load_definition(resolve_model_path("reference-hospital"))))
    return EngineWarmup(compiled=due, seconds=time.perf_counter() - t0)


def _plugins(results: dict[str, SimulationResult]) -> list[dict[str, str]]:
    seen = {p["name"]: p for r in results.values() for p in r.plugins}
    return [seen[k] for k in sorted(seen)]


def _engine_again(engine: str) -> str:
    """The engine a reproduction runs on: the built-in ones give the same numbers (so the one
    that can run here does), a plugin's engine must run again."""
    return "auto" if engine in ("fast", "reference") else engine


def _reproduce(ctx: ServiceContext, original: Manifest) -> dict[str, Any]:
    defn = load_definition(run_dir(ctx.workspace, original.run_id) / MODEL_FILE)
    per_draw = original.parameters.get("reps_per_draw")
    extras = RunExtras()
    results = run_scenarios(
        defn,
        original.scenarios or ["baseline"],
        replications=original.replications,
        seed=original.seed,
        workers=int(original.parameters.get("workers", 1)),
        engine=_engine_again(str(original.parameters.get("engine", "auto"))),
        reps_per_draw=None if per_draw is None else int(per_draw),
        extras=extras,
    )
    return kpi_outputs(results, extras)


register_reproducer("simulate", _reproduce, permission=Permission.SIMULATE)
