"""Background jobs: each ``POST`` queues a job of one kind (202, the job's URL in ``Location``);
``GET /api/v1/jobs/{id}`` shows it, ``POST /api/v1/jobs/{id}/cancel`` stops it.

Each route declares the permission of its kind; :func:`caretwin.services.jobs.submit_job`
checks it again (with the parameters) for callers that are not this API.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.access import Permission
from caretwin.api.deps import Requires, RunsRead, Simulate
from caretwin.api.pagination import Cursor, Limit, decode_cursor, page
from caretwin.errors import ConfigError
from caretwin.services.context import ServiceContext
from caretwin.services.job_params import MAX_REPLICATIONS
from caretwin.services.jobs import (
    JobInfo,
    cancel_job,
    get_job,
    list_jobs,
    submit_job,
    submit_simulation,
)
from caretwin.services.uploads import store_upload

router = APIRouter(tags=["jobs"])

Calibrate = Annotated[ServiceContext, Depends(Requires(Permission.CALIBRATE))]
Ingest = Annotated[ServiceContext, Depends(Requires(Permission.INGEST))]
Synth = Annotated[ServiceContext, Depends(Requires(Permission.SYNTH))]

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class SimulationRequest(BaseModel):
    model: str = Field(description="a model's key (GET /api/v1/models)")
    definition: str | None = Field(
        default=None, description="a twin definition's YAML text, simulated instead (model: label)"
    )
    scenarios: list[str] = Field(default_factory=lambda: ["baseline"], max_length=50)
    saved: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="saved scenarios, NAME or NAME@vN, run beside the baseline",
    )
    replications: int | None = Field(default=None, ge=1, le=MAX_REPLICATIONS)
    seed: int | None = Field(default=None, ge=0)
    run_days: float | None = Field(default=None, gt=0, le=3650, description="run length")
    warmup_days: float | None = Field(default=None, ge=0, le=3650)


class ExperimentRequest(BaseModel):
    spec: dict[str, Any] = Field(description="an experiment spec, as `caretwin experiment` reads")
    definition: str | None = Field(default=None, description="a twin definition's YAML text")


class CalibrationRequest(BaseModel):
    out: str = Field(default="calibrated", description="file name under <workspace>/models")
    template: str | None = Field(default=None, description="an example's name (default RH1)")
    date_from: date | None = None
    date_to: date | None = None


class PullRequest(BaseModel):
    source: str = Field(description="a configured source's name (GET /api/v1/sources)")
    bulk: bool = False
    since: str | None = None
    types: list[str] | None = None


class SynthRequest(BaseModel):
    model: str = Field(description="an example model's name")
    days: int = Field(ge=1, le=3650)
    seed: int = Field(default=0, ge=0)
    scenario: str | None = None
    start_date: date | None = None


def _body(request: Request, job: JobInfo) -> dict[str, object]:
    body = job.to_dict()
    body["url"] = str(request.url_for("job", job_id=job.job_id).path)
    body["run_url"] = (
        str(request.url_for("run", run_id=job.run_id).path) if job.run_id is not None else None
    )
    body["report_url"] = (
        str(request.url_for("report", run_id=job.run_id).path) if job.run_id is not None else None
    )
    return body


def _queued(request: Request, ctx: ServiceContext, kind: str, params: Any) -> JSONResponse:
    data = params.model_dump(mode="json") if isinstance(params, BaseModel) else params
    return _accepted(request, submit_job(ctx, kind, data))


def _accepted(request: Request, job: JobInfo) -> JSONResponse:
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    out = _body(request, job)
    return JSONResponse(out, status_code=202, headers={"location": str(out["url"])})


@router.post("/simulations", status_code=202)
def simulations(body: SimulationRequest, request: Request, ctx: Simulate) -> JSONResponse:
    """Queue a simulation; 202 with the job's URL in ``Location`` and the body."""
    job = submit_simulation(
        ctx, body.model, scenarios=body.scenarios, replications=body.replications,
        seed=body.seed, run_days=body.run_days, warmup_days=body.warmup_days,
        definition=body.definition, saved=body.saved,
    )  # fmt: skip
    return _accepted(request, job)


@router.post("/experiments", status_code=202)
def experiments(body: ExperimentRequest, request: Request, ctx: Simulate) -> JSONResponse:
    """Queue an experiment (variants, advisors, searches) as one run."""
    return _queued(request, ctx, "experiment", body)


@router.post("/calibrations", status_code=202)
def calibrations(body: CalibrationRequest, request: Request, ctx: Calibrate) -> JSONResponse:
    """Queue a calibration of the lake; the fitted model goes to ``<workspace>/models``."""
    return _queued(request, ctx, "calibrate", body)


@router.post("/ingests", status_code=202)
def ingests(files: list[UploadFile], request: Request, ctx: Ingest) -> JSONResponse:
    """Upload NDJSON / Bundle JSON / CSV / HL7 files (multipart, field ``files``) and queue
    their ingest; the files are deleted once they are in the lake."""
    limit = request.app.state.settings.max_body_bytes
    upload = store_upload(ctx, [(f.filename or "upload", f.file) for f in files], limit)
    return _queued(request, ctx, "ingest", {"upload": upload.upload})


@router.post("/pulls", status_code=202)
def pulls(body: PullRequest, request: Request, ctx: Ingest) -> JSONResponse:
    """Queue a pull of a configured source, ingested when it arrives."""
    return _queued(request, ctx, "pull", body)


@router.post("/synth", status_code=202)
def synth(body: SynthRequest, request: Request, ctx: Synth) -> JSONResponse:
    """Queue synthetic data generation into ``<workspace>/synth/<job id>``."""
    return _queued(request, ctx, "synth", body)


@router.post("/runs/{run_id}/reproduce", status_code=202)
def reproduce(run_id: str, request: Request, ctx: RunsRead) -> JSONResponse:
    """Queue a re-run of ``run_id``; the job's result says whether its KPIs are identical."""
    return _queued(request, ctx, "reproduce", {"run_id": run_id})


@router.get("/jobs")
def jobs(
    request: Request,
    ctx: RunsRead,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: JobStatus | None = None,
    kind: str | None = None,
) -> JSONResponse:
    """Jobs, newest first (``status``, ``kind`` filter); follow ``next_cursor``."""
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page")
    found = list_jobs(ctx, limit=limit + 1, after=after, status=status, kind=kind)
    body = page(found, limit, key=lambda j: j.job_id)
    body["items"] = [_body(request, j) for j in found[:limit]]
    return JSONResponse(body)


@router.get("/jobs/{job_id}", name="job")
def job(job_id: str, request: Request, ctx: RunsRead) -> JSONResponse:
    """A job: status (queued, running, done, failed, cancelled), progress, what it produced."""
    return JSONResponse(_body(request, get_job(ctx, job_id)))


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: str, request: Request, ctx: RunsRead) -> JSONResponse:
    """Cancel a queued job, or ask a running one to stop at its next safe point (the kind's
    permission is checked; someone else's job needs ``workspace.admin``)."""
    return JSONResponse(_body(request, cancel_job(ctx, job_id)))
