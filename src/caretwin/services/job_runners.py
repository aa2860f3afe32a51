"""The runners of CareTwin's own job kinds: each calls the service the command line calls, as the
job's actor, passing the job's progress on where the work can report it and stop safely.

Registered through the ``register_job_kinds`` hook (:mod:`caretwin.plugins.builtin.job_kinds`)
like a plugin's kinds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from caretwin.plugins import JobOutput, JobProgress
from caretwin.services.context import ServiceContext
from caretwin.services.job_params import (
    CalibrateParams,
    ExperimentParams,
    IngestParams,
    PullParams,
    ReproduceParams,
    SimulateParams,
    SynthParams,
    ValidationParams,
)
from caretwin.services.results import ServiceResult
from caretwin.workspace import Workspace

__all__ = [
    "ReproduceOutcome",
    "run_calibrate",
    "run_experiment_job",
    "run_ingest",
    "run_pull",
    "run_reproduce",
    "run_simulate",
    "run_synth",
    "run_validation_job",
    "upload_dir",
]

#: Jobs use one process: the server's (or worker's) other cores serve requests and other jobs.
_WORKERS = 1


def upload_dir(ws: Workspace, upload: str) -> Path:
    """Where an upload's files wait for their ingest (owner-only)."""
    return ws.root / "uploads" / upload


class ReproduceOutcome(ServiceResult):
    """A reproduce job's finding: the new run and whether its KPIs are identical."""

    original_run_id: str
    new_run_id: str
    identical: bool
    differences: dict[str, Any]


def run_simulate(ctx: ServiceContext, params: SimulateParams, progress: JobProgress) -> JobOutput:
    from caretwin.services.simulation import simulate_model

    defn = params.twin()
    run = simulate_model(
        ctx,
        defn,
        scenarios=params.run_names(defn),
        replications=params.replications,
        seed=params.seed,
        workers=_WORKERS,
        progress=progress.advance,  # after each replication: a cancel stops it there
        started=progress.started,
    )
    return JobOutput(run_id=run.run_id)


def run_experiment_job(
    ctx: ServiceContext, params: ExperimentParams, progress: JobProgress
) -> JobOutput:
    from caretwin.experiment import spec_from_data
    from caretwin.model import parse_definition
    from caretwin.services.experiment import run_experiment

    spec = spec_from_data(params.spec)
    model = None if params.definition is None else parse_definition(params.definition)
    done = run_experiment(
        ctx,
        spec,
        model=model,
        workers=_WORKERS,
        progress=lambda _stage, n: progress.advance(n),
    )
    return JobOutput(run_id=done.run_id)


def run_calibrate(ctx: ServiceContext, params: CalibrateParams, progress: JobProgress) -> JobOutput:
    from caretwin.model import example_path
    from caretwin.services.calibration import calibrate

    progress.check()
    folder = ctx.workspace.root / "models"
    folder.mkdir(exist_ok=True)
    template = None if params.template is None else example_path(params.template)
    report = calibrate(
        ctx, folder / f"{params.out}.yaml", params.date_from, params.date_to, template
    )
    return JobOutput(run_id=report.run_id, result=report)


def run_ingest(ctx: ServiceContext, params: IngestParams, progress: JobProgress) -> JobOutput:
    from caretwin.services.ingestion import ingest

    folder = upload_dir(ctx.workspace, params.upload)
    if not folder.is_dir():
        from caretwin.errors import DataError

        raise DataError(f"upload {params.upload} is gone", details={"upload": params.upload})
    report = ingest(ctx, [folder], checkpoint=progress.check)
    # The files are in the lake now: PHI is not kept twice.
    shutil.rmtree(folder, ignore_errors=True)
    return JobOutput(result=report)


def run_pull(ctx: ServiceContext, params: PullParams, progress: JobProgress) -> JobOutput:
    from caretwin.services.sources import pull

    progress.check()
    report = pull(ctx, params.source, types=params.types, since=params.since, bulk=params.bulk)
    return JobOutput(result=report)


def run_synth(ctx: ServiceContext, params: SynthParams, progress: JobProgress) -> JobOutput:
    from caretwin.services.synth import synthesize
    from caretwin.synth.window import DEFAULT_START_DATE

    progress.check()
    out = ctx.workspace.root / "synth" / progress.job_id
    done = synthesize(
        ctx,
        params.model,
        days=params.days,
        seed=params.seed,
        out_dir=out,
        start_date=params.start_date or DEFAULT_START_DATE,
        scenario=params.scenario,
    )
    return JobOutput(result=done)


def run_reproduce(ctx: ServiceContext, params: ReproduceParams, progress: JobProgress) -> JobOutput:
    from caretwin.services.reproduce import reproduce

    progress.check()
    found = reproduce(ctx, params.run_id)
    outcome = ReproduceOutcome(
        original_run_id=found.original_run_id,
        new_run_id=found.new_run_id,
        identical=found.identical,
        differences=found.differences,
    )
    return JobOutput(run_id=found.new_run_id, result=outcome)


def run_validation_job(
    ctx: ServiceContext, params: ValidationParams, progress: JobProgress
) -> JobOutput:
    from caretwin.services.validation import run_validation
    from caretwin.validation import parse_plan

    progress.check()
    plan = parse_plan(params.plan_yaml) if params.plan_yaml is not None else str(params.plan)
    # between folds is a safe point to stop: a cancelled run is recorded as failed
    run = run_validation(ctx, plan, on_step=lambda _step: progress.check())
    return JobOutput(run_id=run.run_id, result=run)
