"""``caretwin demo``: the whole flow on the reference hospital, end to end, as one recorded run.

sources (generated) → ingestion → lake → calibration → twin definition → simulation of the
baseline and RH1's scenarios → validation of the held-out month (the ``demo-holdout`` plan's
scorecard) → report.

The calibrated twin's scenarios run under parameter uncertainty, on the same service path as
``caretwin simulate --parameter-uncertainty`` (:func:`caretwin.services.simulation.run_scenarios`
with replications per draw): the report's "Uncertainty, load and stability" section gives each
KPI a 90 % interval of its expected value, the offered load per resource with its interval and
P(rho > 1), and the share of runaway replications (docs/validity.md).

The data cover 13 months plus a cool-down of the model's length, so that stays begun in the
held-out 13th month can finish, just as the simulator counts a patient only once the measured
interval has ended. Calibration sees only the first 12 months. The held-out comparison runs the
calibrated baseline for windows of exactly that month's length, so the observed month is compared
with the spread of simulated months, not with the mean of simulated years; whether the twin
*predicts* a KPI is the scorecard's to say: four one-week rolling-origin predictions of the
held-out month with criteria declared in the plan (``caretwin.validation``, docs/validation.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from caretwin.access import Actor, Permission
from caretwin.calibrate.kpis import observed_kpis
from caretwin.lake import Lake
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition, scenario_names
from caretwin.model.definition import TwinDefinition
from caretwin.reports import ReportInput, write_report
from caretwin.runs import Manifest, RunRecorder
from caretwin.services.calibration import calibrate
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.services.reproduce import register_reproducer
from caretwin.services.results import ServiceResult
from caretwin.services.simulation import (
    KpiEstimate,
    RunExtras,
    kpi_outputs,
    kpi_thresholds,
    run_scenarios,
    trust_input,
)
from caretwin.services.simulation_results import LoadFigure
from caretwin.services.synth import synthesize
from caretwin.services.validation import evaluate_plan
from caretwin.services.workspace import init_workspace
from caretwin.sim.result import SimulationResult
from caretwin.sim.runner import default_workers, simulate
from caretwin.synth import DEFAULT_START_DATE
from caretwin.validation import Scorecard, ValidationPlan, holdout_rows, resolve_plan
from caretwin.validation.plan import SimulationSettings, add_months
from caretwin.validation.uncertainty import REPS_PER_DRAW
from caretwin.workspace import Workspace

REPORT_FILE = "report.html"
DEMO_PLAN = "demo-holdout"

#: Per scenario: 20 parameter draws × 2 replications, the fewest draws whose interval90 comes
#: from order statistics rather than the normal approximation (docs/validity.md).
DEMO_REPLICATIONS = 40

Step = Callable[[str], None]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class DemoParams:
    seed: int = 7
    replications: int = DEMO_REPLICATIONS
    holdout_replications: int = 100
    workers: int = 1
    start_date: date = DEFAULT_START_DATE

    @property
    def train_end(self) -> date:
        return add_months(self.start_date, 12)

    @property
    def holdout_end(self) -> date:
        return add_months(self.start_date, 13)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "replications": self.replications,
            "holdout_replications": self.holdout_replications,
            "workers": self.workers,
            "start_date": self.start_date.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DemoParams:
        return cls(
            seed=int(data["seed"]),
            replications=int(data["replications"]),
            holdout_replications=int(data["holdout_replications"]),
            workers=int(data["workers"]),
            start_date=date.fromisoformat(data["start_date"]),
        )


@dataclass
class _DemoRun:
    """The pipeline's working state; :class:`DemoResult` is what the caller gets."""

    workspace: Path
    run_id: str
    report_path: Path | None
    calibrated_model: Path
    twin: TwinDefinition
    results: dict[str, SimulationResult]
    extras: RunExtras  # the scenarios' intervals, load and parameter draws
    holdout: SimulationResult
    observed: dict[str, float]
    scorecard: Scorecard
    snapshot_id: str
    data_hash: str
    calibration_run: str
    timings: dict[str, float] = field(default_factory=dict)

    def outputs(self) -> dict[str, Any]:
        """What the run record keeps; ``kpis`` (the baseline's, with ``interval90`` and
        ``variance_share``), ``load`` and ``runaway_share`` as ``caretwin simulate
        --parameter-uncertainty`` writes them; reproduction compares all of it."""
        sim = kpi_outputs(self.results, self.extras)
        base = sim["scenarios"]["baseline"]
        draws, per_draw = self.extras.draws["baseline"]
        return {
            "kpis": base["kpis"],
            "load": base["load"],
            "runaway_share": base["runaway_share"],
            "runaway_replications": base["runaway_replications"],
            "parameter_uncertainty": {"draws": draws, "reps_per_draw": per_draw},
            "scenarios": {n: r["kpis"] for n, r in sim["scenarios"].items()},
            "holdout": {k: s.to_json() for k, s in self.holdout.summary.items()},
            "observed_holdout": self.observed,
            "calibrated_model_hash": self.twin.content_hash(),
            # what the plan decided, without the evidence criteria (sign-offs may come later)
            "scorecard": {
                "plan_hash": self.scorecard.plan_hash,
                "can_predict": {v.kpi: v.can_predict for v in self.scorecard.verdicts},
                "coverage": {
                    r.subject: r.coverage for r in self.scorecard.coverage_table("per_kpi")
                },
            },
        }


class HoldoutKpi(ServiceResult):
    """One KPI of the held-out month: observed, and the calibrated twin's simulated months
    (mean and a 95% range, mean ± 1.96 sd, floored at 0 for KPIs that cannot be negative)."""

    kpi: str
    observed: float
    simulated_mean: float
    simulated_low: float
    simulated_high: float


class DemoResult(ServiceResult):
    """The demo's run: where it wrote what, the held-out comparison, and step timings (s)."""

    workspace: Path
    run_id: str
    report: Path | None
    calibrated_model: Path
    calibrated_model_hash: str
    snapshot_id: str
    data_hash: str
    calibration_run: str
    holdout: list[HoldoutKpi]
    scorecard: Scorecard
    timings: dict[str, float]
    #: The calibrated baseline under parameter uncertainty: KPIs with ``interval90``, offered
    #: load per resource, and the share of runaway replications.
    kpis: dict[str, KpiEstimate]
    load: dict[str, LoadFigure]
    runaway_share: float


def _holdout_rows(res: _DemoRun) -> list[HoldoutKpi]:
    return [
        HoldoutKpi(
            kpi=r.kpi,
            observed=r.observed,
            simulated_mean=r.simulated_mean,
            simulated_low=r.simulated_low,
            simulated_high=r.simulated_high,
        )
        for r in holdout_rows(res.observed, res.holdout)
    ]


def demo_plan(p: DemoParams) -> ValidationPlan:
    """The shipped ``demo-holdout`` plan on this demo's dates, seed and replications."""
    plan, _ = resolve_plan(DEMO_PLAN)
    return plan.model_copy(
        update={
            "data": plan.data.model_copy(update={"start": p.start_date}),
            "simulation": SimulationSettings(
                replications=max(10, p.holdout_replications), seed=p.seed
            ),
        }
    )


def demo_workspace(path: Path | None, actor: Actor) -> ServiceContext:
    """The given workspace (created if the folder has none), else a fresh timestamped folder."""
    if path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = Path.cwd() / f"caretwin-demo-{stamp}"
    if (path / "caretwin.yaml").exists():
        return ServiceContext(Workspace.open(path), actor)
    return init_workspace(path, actor)


def _holdout_model(defn: TwinDefinition, days: int) -> TwinDefinition:
    run = defn.run.model_copy(update={"run_days": float(days)})
    return defn.model_copy(update={"run": run})


def _pipeline(
    ctx: ServiceContext, p: DemoParams, step: Step, progress: Progress | None
) -> _DemoRun:
    """Generate, ingest, calibrate, simulate and validate; no report, no run record."""
    ws = ctx.workspace
    timings: dict[str, float] = {}

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        timings[name] = time.perf_counter() - t0

    rh1 = load_definition(example_path(REFERENCE_HOSPITAL))
    days = (p.holdout_end - p.start_date).days + math.ceil(rh1.run.cooldown_days)
    data_dir = ws.root / "incoming" / f"synth-{rh1.name}-seed{p.seed}"
    step(f"generating {days} days of {rh1.name} data (seed {p.seed})")
    with timed("synth"):
        synth = synthesize(
            ctx, rh1, days=days, seed=p.seed, out_dir=data_dir, start_date=p.start_date
        )
    step(f"ingesting {sum(synth.counts.values()):,} records")
    with timed("ingest"):
        ingested = ingest(ctx, [data_dir])
    model_path = ws.root / "models" / f"{rh1.name}-calibrated.yaml"
    step(f"calibrating on {p.start_date} .. {p.train_end}")
    with timed("calibrate"):
        cal = calibrate(ctx, model_path, date_from=p.start_date, date_to=p.train_end)
    twin = load_definition(model_path)
    names = scenario_names(twin)
    step(
        f"simulating {', '.join(names)} under parameter uncertainty "
        f"({p.replications // REPS_PER_DRAW} draws × {REPS_PER_DRAW} replications each)"
    )
    extras = RunExtras()
    with timed("simulate"):
        results = run_scenarios(
            twin, names, replications=p.replications, seed=p.seed, workers=p.workers,
            progress=progress, reps_per_draw=REPS_PER_DRAW, extras=extras,
        )  # fmt: skip
    step(f"validating against the held-out month {p.train_end} .. {p.holdout_end}")
    with timed("validate"):
        observed = observed_kpis(Lake(ws.lake_dir), p.train_end, p.holdout_end)
        holdout = simulate(
            _holdout_model(twin, (p.holdout_end - p.train_end).days),
            replications=p.holdout_replications,
            seed=p.seed,
            workers=p.workers,
            scenario_label="baseline (held-out month length)",
        )
        step(f"validating: the {DEMO_PLAN} plan's rolling-origin predictions of the month")
        scorecard = evaluate_plan(ws, demo_plan(p), workers=p.workers)
    return _DemoRun(
        workspace=ws.root,
        run_id="",
        report_path=None,
        calibrated_model=model_path,
        twin=twin,
        results=results,
        extras=extras,
        holdout=holdout,
        observed=observed,
        scorecard=scorecard,
        snapshot_id=ingested.snapshot_id,
        data_hash=ingested.data_hash,
        calibration_run=cal.run_id,
        timings=timings,
    )


def run_demo(
    ctx: ServiceContext,
    *,
    seed: int = 7,
    replications: int = DEMO_REPLICATIONS,
    holdout_replications: int = 100,
    workers: int | None = None,
    start_date: date = DEFAULT_START_DATE,
    on_step: Step | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """The demo as one audited, recorded run with its report."""
    p = DemoParams(
        seed, replications, holdout_replications, workers or default_workers(), start_date
    )
    rh1 = load_definition(example_path(REFERENCE_HOSPITAL))
    step = on_step or (lambda _name: None)
    with (
        ctx.operation("demo.run", Permission.SIMULATE, target=str(ctx.workspace.root)) as op,
        RunRecorder.start(
            ctx,
            "demo",
            rh1.name,
            rh1.content_hash(),
            scenarios=scenario_names(rh1),
            seed=seed,
            replications=replications,
            parameters=p.to_json(),
        ) as rec,
    ):
        op.details["run_id"] = rec.run_id
        res = _pipeline(ctx, p, step, progress)
        res.run_id = rec.run_id
        rec.timings.update(res.timings)
        rec.manifest.data_snapshot_hash = res.data_hash
        step("writing the report")
        with rec.timer("report"):
            res.report_path = write_report(_report_input(res, p), rec.run_dir / REPORT_FILE)
        rec.finish(res.outputs(), report_path=res.report_path)
        res.timings = dict(rec.timings)
        op.details.update(report=str(res.report_path), snapshot=res.snapshot_id)
    return DemoResult(
        workspace=res.workspace,
        run_id=res.run_id,
        report=res.report_path,
        calibrated_model=res.calibrated_model,
        calibrated_model_hash=res.twin.content_hash(),
        snapshot_id=res.snapshot_id,
        data_hash=res.data_hash,
        calibration_run=res.calibration_run,
        holdout=_holdout_rows(res),
        scorecard=res.scorecard,
        timings=res.timings,
        kpis={
            k: KpiEstimate.of(s, res.extras.intervals["baseline"].get(k))
            for k, s in res.results["baseline"].summary.items()
        },
        load={r: LoadFigure.of(e) for r, e in res.extras.load["baseline"].items()},
        runaway_share=res.results["baseline"].runaway_share,
    )


def _report_input(res: _DemoRun, p: DemoParams) -> ReportInput:
    twin = res.twin
    return ReportInput(
        title="CareTwin demo: calibrated reference hospital",
        model_name=twin.name,
        model_hash=twin.content_hash(),
        results=res.results,
        scorecard=res.scorecard,
        trust=trust_input(res.results, res.extras),
        calibration=twin.provenance,
        thresholds=kpi_thresholds(twin),
        manifest={
            "run_id": res.run_id,
            "seed": p.seed,
            "replications": p.replications,
            "parameter_draws": p.replications // REPS_PER_DRAW,
            "reps_per_draw": REPS_PER_DRAW,
            "data_snapshot": res.snapshot_id,
            "data_hash": res.data_hash,
            "calibrated_model": str(res.calibrated_model),
            "calibrated_model_hash": twin.content_hash(),
            "calibration_run": res.calibration_run,
            "timings_s": {k: round(v, 2) for k, v in res.timings.items()},
        },
        notes=[
            f"Synthetic data: {REFERENCE_HOSPITAL} simulated as ground truth, seed {p.seed}, "
            f"from {p.start_date}; 13 months plus a cool-down so held-out stays can finish.",
            f"Calibrated on arrivals in [{p.start_date}, {p.train_end}); the held-out month "
            f"[{p.train_end}, {p.holdout_end}) was not used for fitting.",
            f"Validation: the {DEMO_PLAN} plan predicts the held-out month week by week, each "
            "week from a twin calibrated on the 12 months before it; its scorecard decides "
            "which KPIs the twin can predict (docs/validation.md).",
            f"Uncertainty: every scenario ran {p.replications // REPS_PER_DRAW} parameter sets "
            f"drawn from the calibration's uncertainty × {REPS_PER_DRAW} replications; runaway "
            "replications stay in every mean (docs/validity.md).",
        ],
    )


def _reproduce(ctx: ServiceContext, original: Manifest) -> dict[str, Any]:
    params = DemoParams.from_json(original.parameters)
    return _pipeline(ctx, params, lambda _name: None, None).outputs()


register_reproducer("demo", _reproduce, permission=Permission.SIMULATE)

__all__ = [
    "DEMO_REPLICATIONS",
    "DemoParams",
    "DemoResult",
    "HoldoutKpi",
    "add_months",
    "demo_plan",
    "demo_workspace",
    "run_demo",
]
