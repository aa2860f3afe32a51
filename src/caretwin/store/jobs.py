"""The ``jobs`` table: background work (simulations, experiments, ingests, pulls, ...) and the
queue workers take it from; the ``schedules`` tables are in :mod:`caretwin.store.schedules`.

A row is the whole state of a job, so a server or worker that stops loses nothing: queued jobs
wait for the next worker, and a running job whose worker stopped heartbeating (its lease
expired) is marked ``failed`` with the reason, or queued again when its kind is idempotent
(:mod:`caretwin.services.job_queue`). The actor's name, roles and token scopes are kept so the
worker runs the job as the person who asked for it. ``docs/jobs.md`` describes the queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caretwin.store.models import Base, utcnow

__all__ = ["JOB_STATUSES", "Job"]

#: A job's life: queued -> running -> done | failed | cancelled; queued -> cancelled; a running
#: job whose worker died -> failed, or -> queued again for an idempotent kind.
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_kind_created", "kind", "created_at"),
    )

    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    actor: Mapped[str] = mapped_column(String(200))
    actor_kind: Mapped[str] = mapped_column(String(40))
    roles: Mapped[list[str]] = mapped_column(default=list)
    scopes: Mapped[list[str] | None] = mapped_column(default=None)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str | None] = mapped_column(String(100), default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    #: What the job produced besides a run: the kind's typed result, as JSON.
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    #: Who asked a running job to stop (the worker sees it at the job's next safe point).
    cancel_requested_by: Mapped[str | None] = mapped_column(String(200), default=None)
    cancelled_by: Mapped[str | None] = mapped_column(String(200), default=None)
    #: The worker running the job ("host:pid:n"), its last heartbeat and when its lease ends.
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The schedule that queued the job, if one did.
    schedule: Mapped[str | None] = mapped_column(String(100), default=None)
