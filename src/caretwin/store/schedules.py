"""The ``schedules`` and ``schedule_fires`` tables: jobs queued on a cron expression.

A schedule holds its next due time; a worker that finds it due inserts ``(schedule, due_at)``
into ``schedule_fires``, whose primary key lets exactly one worker fire one due time however
many poll at once (:mod:`caretwin.services.schedules`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from caretwin.store.models import Base, utcnow

__all__ = ["Schedule", "ScheduleFire"]


class Schedule(Base):
    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Whom the jobs run as (with that user's roles when they fire), and how they were known.
    owner: Mapped[str] = mapped_column(String(200))
    owner_kind: Mapped[str] = mapped_column(String(40))
    owner_roles: Mapped[list[str]] = mapped_column(default=list)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_due_at: Mapped[datetime] = mapped_column()
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)
    last_job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleFire(Base):
    """One due time of one schedule, fired once: the primary key is the claim."""

    __tablename__ = "schedule_fires"

    schedule: Mapped[str] = mapped_column(String(100), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(primary_key=True)
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    worker: Mapped[str] = mapped_column(String(200))
    #: "queued" (job_id set) or why no job was queued (the owner disabled, ...).
    outcome: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
