"""Background jobs: ``POST /api/v1/simulations`` queues one, ``GET /api/v1/jobs/{id}`` shows it."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.api.deps import RunsRead, Simulate
from caretwin.api.pagination import Cursor, Limit, decode_cursor, page
from caretwin.errors import ConfigError
from caretwin.services.jobs import (
    MAX_REPLICATIONS,
    JobInfo,
    cancel_job,
    get_job,
    list_jobs,
    submit_simulation,
)

router = APIRouter(tags=["jobs"])


class SimulationRequest(BaseModel):
    model: str = Field(description="an example model's name (GET /api/v1/examples)")
    scenarios: list[str] = Field(default_factory=lambda: ["baseline"], max_length=50)
    replications: int | None = Field(default=None, ge=1, le=MAX_REPLICATIONS)
    seed: int | None = Field(default=None, ge=0)
    run_days: float | None = Field(default=None, gt=0, le=3650, description="run length")
    warmup_days: float | None = Field(default=None, ge=0, le=3650)


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


@router.post("/simulations", status_code=202)
def simulations(body: SimulationRequest, request: Request, ctx: Simulate) -> JSONResponse:
    """Queue a simulation; 202 with the job's URL in ``Location`` and the body."""
    job = submit_simulation(
        ctx,
        body.model,
        scenarios=body.scenarios,
        replications=body.replications,
        seed=body.seed,
        run_days=body.run_days,
        warmup_days=body.warmup_days,
    )
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    out = _body(request, job)
    return JSONResponse(out, status_code=202, headers={"location": str(out["url"])})


@router.get("/jobs")
def jobs(
    request: Request,
    ctx: RunsRead,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Literal["queued", "running", "done", "failed", "cancelled"] | None = None,
) -> JSONResponse:
    """Jobs, newest first (``status`` filters); follow ``next_cursor`` for the next page."""
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page")
    found = list_jobs(ctx, limit=limit + 1, after=after, status=status)
    body = page(found, limit, key=lambda j: j.job_id)
    body["items"] = [_body(request, j) for j in found[:limit]]
    return JSONResponse(body)


@router.get("/jobs/{job_id}", name="job")
def job(job_id: str, request: Request, ctx: RunsRead) -> JSONResponse:
    """A job: status (queued, running, done, failed, cancelled), progress, its run once done."""
    return JSONResponse(_body(request, get_job(ctx, job_id)))


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: str, request: Request, ctx: Simulate) -> JSONResponse:
    """Cancel a queued job."""
    return JSONResponse(_body(request, cancel_job(ctx, job_id)))
