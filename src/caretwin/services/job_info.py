"""What a job looks like to the front ends: :class:`JobInfo` (a row of the ``jobs`` table) and
:class:`JobKindInfo` (a registered kind)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from caretwin.services.results import ServiceResult
from caretwin.store.jobs import Job

__all__ = ["JobInfo", "JobKindInfo"]


class JobInfo(ServiceResult):
    """A job as ``GET /api/v1/jobs/{id}`` shows it; ``run_id``/``result``: what it produced."""

    job_id: str
    kind: str
    status: str
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: float
    done: int
    total: int
    params: dict[str, Any]
    run_id: str | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    cancel_requested_by: str | None
    cancelled_by: str | None
    worker: str | None
    attempts: int
    schedule: str | None

    @classmethod
    def of(cls, job: Job) -> JobInfo:
        total = job.progress_total
        progress = 1.0 if job.status == "done" else (job.progress_done / total if total else 0.0)
        return cls(
            job_id=job.job_id,
            kind=job.kind,
            status=job.status,
            actor=job.actor,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            progress=round(min(progress, 1.0), 4),
            done=job.progress_done,
            total=total,
            params=dict(job.params),
            run_id=job.run_id,
            result=job.result,
            error=job.error,
            cancel_requested_by=job.cancel_requested_by,
            cancelled_by=job.cancelled_by,
            worker=job.worker,
            attempts=job.attempts or 0,
            schedule=job.schedule,
        )


class JobKindInfo(ServiceResult):
    """A kind of job a worker here can run, and what submitting it needs."""

    name: str
    description: str
    permission: str
    cancellable: bool
    idempotent: bool
    plugin: str
