"""``caretwin demo``: the whole flow on the reference hospital, end to end, as one recorded run.

sources (generated) → ingestion → lake → calibration → twin definition → simulation of the
baseline and RH1's scenarios → validation against a held-out month → report.

The data cover 13 months plus a cool-down of the model's length, so that stays begun in the
held-out 13th month can finish, just as the simulator counts a patient only once the measured
interval has ended. Calibration sees only the first 12 months. The held-out comparison runs the
calibrated baseline for windows of exactly that month's length, so the observed month is compared
with the spread of simulated months, not with the mean of simulated years.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from caretwin.access import Actor, Permission
from caretwin.calibrate.kpis import observed_kpis
from caretwin.lake import Lake
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition, scenario_names
from caretwin.model.definition import TwinDefinition
from caretwin.reports import ReportInput, write_report
from caretwin.runs import RunRecorder
from caretwin.services.calibration import calibrate
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.services.simulation import run_scenarios
from caretwin.services.synth import synthesize
from caretwin.sim.result import SimulationResult
from caretwin.sim.runner import default_workers, simulate
from caretwin.synth import DEFAULT_START_DATE
from caretwin.workspace import Workspace
from caretwin.workspace.service import init_workspace

REPORT_FILE = "report.html"

Step = Callable[[str], None]
Progress = Callable[[int], None]


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    days_in_month = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31,
                     30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]  # fmt: skip
    return date(year, month, min(d.day, days_in_month))


@dataclass
class DemoResult:
    workspace: Path
    run_id: str
    report_path: Path
    calibrated_model: Path
    results: dict[str, SimulationResult]
    holdout: SimulationResult
    observed: dict[str, float]
    timings: dict[str, float]


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


def run_demo(
    ctx: ServiceContext,
    *,
    seed: int = 7,
    replications: int = 20,
    holdout_replications: int = 100,
    workers: int | None = None,
    start_date: date = DEFAULT_START_DATE,
    on_step: Step | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    step = on_step or (lambda _name: None)
    ws = ctx.workspace
    n_workers = workers or default_workers()
    rh1 = load_definition(example_path(REFERENCE_HOSPITAL))
    train_end = add_months(start_date, 12)
    holdout_end = add_months(start_date, 13)
    cooldown = math.ceil(rh1.run.cooldown_days)
    days = (holdout_end - start_date).days + cooldown
    with ctx.operation("demo.run", Permission.SIMULATE, target=str(ws.root)) as op:
        with RunRecorder.start(
            ctx,
            "demo",
            rh1.name,
            rh1.content_hash(),
            scenarios=scenario_names(rh1),
            seed=seed,
            replications=replications,
            parameters={
                "start_date": start_date.isoformat(),
                "train": [start_date.isoformat(), train_end.isoformat()],
                "holdout": [train_end.isoformat(), holdout_end.isoformat()],
                "data_days": days,
                "holdout_replications": holdout_replications,
                "workers": n_workers,
            },
        ) as rec:
            op.details["run_id"] = rec.run_id
            data_dir = ws.root / "incoming" / f"synth-{rh1.name}-seed{seed}"
            step(f"generating {days} days of {rh1.name} data (seed {seed})")
            with rec.timer("synth"):
                synth = synthesize(
                    ctx, rh1, days=days, seed=seed, out_dir=data_dir, start_date=start_date
                )
            step(f"ingesting {sum(synth.counts.values()):,} records")
            with rec.timer("ingest"):
                ingested = ingest(ctx, [data_dir])
            model_path = ws.root / "models" / f"{rh1.name}-calibrated.yaml"
            step(f"calibrating on {start_date} .. {train_end}")
            with rec.timer("calibrate"):
                cal = calibrate(ctx, model_path, date_from=start_date, date_to=train_end)
            twin = load_definition(model_path)
            names = scenario_names(twin)
            step(f"simulating {', '.join(names)} ({replications} replications each)")
            with rec.timer("simulate"):
                results = run_scenarios(
                    twin,
                    names,
                    replications=replications,
                    seed=seed,
                    workers=n_workers,
                    progress=progress,
                )
            step(f"validating against the held-out month {train_end} .. {holdout_end}")
            with rec.timer("validate"):
                observed = observed_kpis(Lake(ws.lake_dir), train_end, holdout_end)
                holdout = simulate(
                    _holdout_model(twin, (holdout_end - train_end).days),
                    replications=holdout_replications,
                    seed=seed,
                    workers=n_workers,
                    scenario_label="baseline (held-out month length)",
                )
            step("writing the report")
            manifest: dict[str, Any] = {
                "run_id": rec.run_id,
                "seed": seed,
                "replications": replications,
                "data_snapshot": ingested.snapshot_id,
                "calibrated_model": str(model_path),
                "calibrated_model_hash": twin.content_hash(),
                "calibration_run": cal.run_id,
                "timings_s": {k: round(v, 2) for k, v in rec.timings.items()},
            }
            with rec.timer("report"):
                report_path = write_report(
                    ReportInput(
                        title="CareTwin demo: calibrated reference hospital",
                        model_name=twin.name,
                        model_hash=twin.content_hash(),
                        results=results,
                        observed=observed,
                        observed_label=f"held-out month {train_end} .. {holdout_end}",
                        observed_result=holdout,
                        calibration=twin.provenance,
                        manifest=manifest,
                        notes=[
                            f"Synthetic data: {rh1.name} simulated as ground truth, seed {seed}, "
                            f"{days} days from {start_date}.",
                            f"Calibrated on arrivals in [{start_date}, {train_end}); the held-out "
                            f"month [{train_end}, {holdout_end}) was not used for fitting.",
                        ],
                    ),
                    rec.run_dir / REPORT_FILE,
                )
            outputs = {
                "kpis": {k: s.to_json() for k, s in results["baseline"].summary.items()},
                "scenarios": {
                    n: {k: s.to_json() for k, s in r.summary.items()} for n, r in results.items()
                },
                "observed_holdout": observed,
                "calibrated_model_hash": twin.content_hash(),
                "data_snapshot": ingested.snapshot_id,
            }
            rec.manifest.data_snapshot_hash = ingested.data_hash
            rec.finish(outputs, report_path=report_path)
            op.details.update(report=str(report_path), snapshot=ingested.snapshot_id)
    return DemoResult(
        workspace=ws.root,
        run_id=rec.run_id,
        report_path=report_path,
        calibrated_model=model_path,
        results=results,
        holdout=holdout,
        observed=observed,
        timings=dict(rec.timings),
    )


__all__ = ["DemoResult", "add_months", "demo_workspace", "run_demo"]
