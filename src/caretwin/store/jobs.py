"""The ``jobs`` table: background work started from the API (simulations first).

A row is the whole state of a job, so a server that restarts finds every job it knew of: queued
ones are taken up again, and one left ``running`` is marked ``failed`` with the reason
(:func:`caretwin.services.jobs.fail_interrupted`), never silently lost. The actor's name, roles
and token scopes are kept so the worker runs the job as the person who asked for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caretwin.store.models import Base, utcnow

__all__ = ["JOB_STATUSES", "Job"]

#: A job's life: queued -> running -> done | failed; queued -> cancelled.
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)

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
