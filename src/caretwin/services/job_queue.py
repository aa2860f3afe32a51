"""The queue on the ``jobs`` table: claim, heartbeat, finish, and reaping jobs of dead workers.

The one queue serves the embedded worker of ``caretwin serve`` and ``caretwin worker``
processes alike (``docs/jobs.md``). A claim selects the oldest queued job ``FOR UPDATE SKIP
LOCKED`` (PostgreSQL: concurrent workers skip each other's row instead of waiting; SQLite
ignores the clause and serialises writers) and moves it to ``running`` by an update conditional
on ``status = 'queued'``, so one job goes to exactly one worker on either backend. The claim
gives the worker a lease that its heartbeats extend; a running job whose lease ran out belongs
to a worker that died: :func:`reap_expired` fails it with the reason, or queues it again when
its kind is idempotent and attempts remain. Submitting on PostgreSQL sends ``NOTIFY`` on the
workspace's channel so idle workers wake at once instead of at their next poll.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, or_, select, text, update
from sqlalchemy.orm import Session

from caretwin.access import Actor
from caretwin.errors import ConfigError
from caretwin.plugins import JobKindSpec
from caretwin.plugins.registry import job_kinds
from caretwin.services.context import ServiceContext
from caretwin.services.job_info import JobInfo
from caretwin.store.jobs import Job
from caretwin.store.models import utcnow
from caretwin.workspace import Workspace

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "SERVER_ACTOR",
    "channel",
    "claim",
    "finish",
    "heartbeat",
    "job_kind",
    "notify",
    "reap_expired",
    "rows_updated",
]

log = logging.getLogger(__name__)

#: A worker renews its jobs' leases every third of this; a lease this old means a dead worker.
DEFAULT_LEASE_SECONDS = 30.0
#: Who the workers are when they close jobs a dead worker left behind or fire schedules.
SERVER_ACTOR = Actor(name="caretwin-server", roles=frozenset(), kind="service")


def job_kind(name: str) -> JobKindSpec:
    """The registered kind ``name`` (``ConfigError`` naming the known ones otherwise)."""
    kinds = job_kinds()
    if name not in kinds:
        raise ConfigError(
            f"unknown job kind {name!r}; one of: {', '.join(sorted(kinds))}",
            details={"kind": name},
        )
    return kinds[name].spec


def rows_updated(session: Session, stmt: Update) -> int:
    """How many rows a conditional update changed (an UPDATE's result is a CursorResult)."""
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount


def channel(ws: Workspace) -> str:
    """The workspace's NOTIFY channel: workspaces (schemas) sharing one database never wake
    each other's workers."""
    return "caretwin_jobs_" + hashlib.sha256(ws.database_url.encode()).hexdigest()[:16]


def notify(ws: Workspace, session: Session, job_id: str) -> None:
    """Wake idle workers when ``session`` commits (PostgreSQL; SQLite workers poll)."""
    if ws.backend == "postgresql":
        session.execute(text("SELECT pg_notify(:ch, :id)"), {"ch": channel(ws), "id": job_id})


def claim(ws: Workspace, worker: str, lease_seconds: float) -> Job | None:
    """Take the oldest queued job for ``worker``, or ``None`` when none is waiting."""
    for _ in range(5):  # another worker won the row between our select and update: next one
        with ws.session() as session:
            job_id = session.scalars(
                select(Job.job_id)
                .where(Job.status == "queued")
                .order_by(Job.created_at, Job.job_id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if job_id is None:
                return None
            now = utcnow()
            won = rows_updated(
                session,
                update(Job)
                .where(Job.job_id == job_id, Job.status == "queued")
                .values(
                    status="running",
                    started_at=now,
                    worker=worker,
                    heartbeat_at=now,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=Job.attempts + 1,
                ),
            )
        if won:
            with ws.session() as session:
                return session.get(Job, job_id)
    return None


def heartbeat(ws: Workspace, worker: str, job_ids: list[str], lease_seconds: float) -> None:
    """Extend the leases of the jobs ``worker`` is running."""
    if not job_ids:
        return
    now = utcnow()
    with ws.session() as session:
        session.execute(
            update(Job)
            .where(Job.job_id.in_(job_ids), Job.worker == worker, Job.status == "running")
            .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds))
        )


def finish(ws: Workspace, job_id: str, worker: str, **values: Any) -> bool:
    """Close a job ``worker`` still holds; ``False`` when its lease was lost meanwhile (another
    worker reaped it), and then nothing is written."""
    with ws.session() as session:
        return bool(
            rows_updated(
                session,
                update(Job)
                .where(Job.job_id == job_id, Job.worker == worker, Job.status == "running")
                .values(finished_at=utcnow(), lease_expires_at=None, **values),
            )
        )


def _interrupted(job: Job, requeue: bool, attempts: int) -> dict[str, Any]:
    since = job.heartbeat_at.isoformat() if job.heartbeat_at else "its start"
    message = (
        f"the worker running the job stopped (server stopped or worker killed; no heartbeat "
        f"since {since})"
    )
    message += f"; queued again (attempt {attempts + 1})" if requeue else "; submit it again"
    return {"code": "interrupted", "message": message, "details": {"worker": job.worker}}


def _dead_here(worker: str | None) -> bool:
    """Whether ``worker`` ("host:pid:n") ran on this machine in a process that is gone: its
    jobs need not wait for their leases (a server restarted after a kill, say)."""
    host, _, rest = (worker or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def reap_expired(ws: Workspace, now: datetime | None = None) -> list[JobInfo]:
    """Close every running job whose worker is gone: its lease ran out, it never had one (a
    job an older server left ``running``), or its worker's process on this machine has ended.
    Queued again when its kind is idempotent and attempts remain, else failed with the reason.
    Audited as ``jobs.requeued`` / ``jobs.interrupted``."""
    now = now or utcnow()
    expired = or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now)
    with ws.session() as session:
        running = list(session.scalars(select(Job).where(Job.status == "running")))
    stale = [
        job
        for job in running
        if job.lease_expires_at is None or job.lease_expires_at < now or _dead_here(job.worker)
    ]
    closed: list[JobInfo] = []
    ctx = ServiceContext(ws, SERVER_ACTOR)
    for job in stale:
        kinds = job_kinds()
        spec = kinds[job.kind].spec if job.kind in kinds else None
        requeue = spec is not None and spec.idempotent and job.attempts < spec.max_attempts
        error = _interrupted(job, requeue, job.attempts)
        values: dict[str, Any] = {"error": error, "lease_expires_at": None}
        if requeue:
            values.update(status="queued", worker=None, started_at=None)
        else:
            values.update(status="failed", finished_at=now)
        with ws.session() as session:
            won = rows_updated(
                session,
                update(Job)
                .where(Job.job_id == job.job_id, Job.status == "running")
                .where(or_(expired, Job.worker == job.worker) if job.worker else expired)
                .values(**values),
            )
            if won and requeue:
                notify(ws, session, job.job_id)
        if not won:  # its worker came back, or another worker reaped it first
            continue
        action = "jobs.requeued" if requeue else "jobs.interrupted"
        ctx.audit.record(SERVER_ACTOR, action, job.job_id, "error", {"reason": error["message"]})
        with ws.session() as session:
            row = session.get(Job, job.job_id)
        if row is not None:
            closed.append(JobInfo.of(row))
    return closed
