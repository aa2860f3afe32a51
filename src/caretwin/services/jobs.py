"""Background jobs: a simulation asked for over the API runs later, on a worker, as its asker.

The ``jobs`` table (:mod:`caretwin.store.jobs`) holds each job's whole state, so jobs outlive
the process that runs them: :func:`fail_interrupted`, called when a server starts, marks every
job a stopped server left ``running`` as ``failed`` with the reason (never silently lost), and
queued jobs wait for the next worker. :class:`JobWorker` is the embedded worker ``caretwin
serve`` starts: one thread taking the oldest queued job (claimed by a conditional update, so two
workers on one database never take the same job) and running it through the same service the
CLI uses, as the actor who submitted it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, and_, or_, select, update
from sqlalchemy.orm import Session

from caretwin.access import Actor, Permission
from caretwin.errors import CareTwinError, ConfigError, JobNotFound
from caretwin.model import (
    apply_scenario,
    example_names,
    example_path,
    load_definition,
    scenario_names,
)
from caretwin.model.definition import RunSettings, TwinDefinition
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult
from caretwin.store.jobs import Job
from caretwin.store.models import utcnow
from caretwin.workspace import Workspace

__all__ = [
    "MAX_REPLICATIONS",
    "JobInfo",
    "JobWorker",
    "cancel_job",
    "fail_interrupted",
    "get_job",
    "list_jobs",
    "run_next_job",
    "submit_simulation",
]

log = logging.getLogger(__name__)

#: The most replications one job may ask for: a guard against a request tying up the server.
MAX_REPLICATIONS = 1000
#: Progress is written to the database at most this often (seconds).
_PROGRESS_EVERY = 0.5
#: Who the server is when it closes jobs a stopped server left behind.
SERVER_ACTOR = Actor(name="caretwin-server", roles=frozenset(), kind="service")


class JobInfo(ServiceResult):
    """A job as ``GET /api/v1/jobs/{id}`` shows it; ``run_id`` is set once it is done."""

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
    error: dict[str, Any] | None

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
            error=job.error,
        )


def submit_simulation(
    ctx: ServiceContext,
    model: str,
    *,
    scenarios: list[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    run_days: float | None = None,
    warmup_days: float | None = None,
) -> JobInfo:
    """Queue a simulation of the example model ``model``; it runs on a worker as ``ctx.actor``.

    ``run_days``/``warmup_days`` replace the model's run length (a short look). The model and
    its scenarios are checked now, so a bad request fails here, not in the job.
    """
    with ctx.operation("jobs.submit", Permission.SIMULATE, target=model) as op:
        if model not in example_names():
            raise ConfigError(
                f"unknown model {model!r}; one of: {', '.join(example_names())}",
                details={"model": model},
            )
        if replications is not None and not 1 <= replications <= MAX_REPLICATIONS:
            raise ConfigError(f"replications must be between 1 and {MAX_REPLICATIONS}")
        defn = _definition(model, run_days, warmup_days)
        names = scenarios or ["baseline"]
        for name in scenario_names(defn) if names == ["all"] else names:
            apply_scenario(defn, name)  # ScenarioNotFound before anything is queued
        job = Job(
            job_id="job-" + secrets.token_hex(8),
            kind="simulate",
            status="queued",
            actor=ctx.actor.name,
            actor_kind=ctx.actor.kind,
            roles=sorted(ctx.actor.roles),
            scopes=None if ctx.actor.scopes is None else sorted(p.value for p in ctx.actor.scopes),
            params={
                "model": model,
                "scenarios": names,
                "replications": replications,
                "seed": seed,
                "run_days": run_days,
                "warmup_days": warmup_days,
            },
            progress_done=0,
            progress_total=0,
            created_at=utcnow(),
        )
        with ctx.workspace.session() as session:
            session.add(job)
        op.details.update(job_id=job.job_id, scenarios=names)
        return JobInfo.of(job)


def _definition(model: str, run_days: float | None, warmup_days: float | None) -> TwinDefinition:
    defn = load_definition(example_path(model))
    changes = {
        k: v for k, v in (("run_days", run_days), ("warmup_days", warmup_days)) if v is not None
    }
    if not changes:
        return defn
    try:
        run = RunSettings.model_validate({**defn.run.model_dump(), **changes})
    except ValueError as exc:
        raise ConfigError(f"invalid run length: {exc}") from exc
    return defn.model_copy(update={"run": run})


def _load(ws: Workspace, job_id: str) -> Job:
    with ws.session() as session:
        job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id} in this workspace", details={"job_id": job_id})
    return job


def get_job(ctx: ServiceContext, job_id: str) -> JobInfo:
    with ctx.operation("jobs.show", Permission.RUNS_READ, target=job_id):
        return JobInfo.of(_load(ctx.workspace, job_id))


def list_jobs(
    ctx: ServiceContext,
    limit: int = 50,
    after: str | None = None,
    status: str | None = None,
) -> list[JobInfo]:
    """Jobs, newest first; ``after``: the last job id of the previous page."""
    if limit < 0:
        raise ConfigError("the job limit must be zero or more")
    with ctx.operation("jobs.list", Permission.RUNS_READ, target=status or "*") as op:
        stmt = select(Job).order_by(Job.created_at.desc(), Job.job_id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(Job.status == status)
        with ctx.workspace.session() as session:
            if after is not None:
                mark = session.get(Job, after)
                if mark is None:
                    raise JobNotFound(
                        f"no job {after} in this workspace", details={"job_id": after}
                    )
                stmt = stmt.where(
                    or_(
                        Job.created_at < mark.created_at,
                        and_(Job.created_at == mark.created_at, Job.job_id < mark.job_id),
                    )
                )
            jobs = [JobInfo.of(job) for job in session.scalars(stmt)]
        op.details["count"] = len(jobs)
        return jobs


def cancel_job(ctx: ServiceContext, job_id: str) -> JobInfo:
    """Cancel a queued job (a running one finishes: the engines have no safe stop point)."""
    with ctx.operation("jobs.cancel", Permission.SIMULATE, target=job_id) as op:
        with ctx.workspace.session() as session:
            changed = _rows_updated(
                session,
                update(Job)
                .where(Job.job_id == job_id, Job.status == "queued")
                .values(status="cancelled", finished_at=utcnow()),
            )
        job = _load(ctx.workspace, job_id)
        if not changed:
            raise ConfigError(
                f"job {job_id} is {job.status}; only a queued job can be cancelled",
                details={"job_id": job_id, "status": job.status},
            )
        op.details["status"] = job.status
        return JobInfo.of(job)


def fail_interrupted(ws: Workspace) -> list[JobInfo]:
    """Mark every job left ``running`` (its server stopped) as ``failed``, saying why; audited.

    Call it when a server starts, before its worker takes jobs.
    """
    reason = "the server stopped while the job was running; submit it again"
    now = utcnow()
    with ws.session() as session:
        jobs = list(session.scalars(select(Job).where(Job.status == "running")))
        for job in jobs:
            job.status = "failed"
            job.finished_at = now
            job.error = {"code": "interrupted", "message": reason}
    ctx = ServiceContext(ws, SERVER_ACTOR)
    for job in jobs:
        ctx.audit.record(SERVER_ACTOR, "jobs.interrupted", job.job_id, "error", {"reason": reason})
    return [JobInfo.of(job) for job in jobs]


def _rows_updated(session: Session, stmt: Update) -> int:
    """How many rows a conditional update changed (an UPDATE's result is a CursorResult)."""
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount


def _claim(ws: Workspace) -> Job | None:
    """Take the oldest queued job: the conditional update wins for exactly one worker."""
    with ws.session() as session:
        candidates = list(
            session.scalars(
                select(Job.job_id).where(Job.status == "queued").order_by(Job.created_at).limit(5)
            )
        )
    for job_id in candidates:
        with ws.session() as session:
            won = _rows_updated(
                session,
                update(Job)
                .where(Job.job_id == job_id, Job.status == "queued")
                .values(status="running", started_at=utcnow()),
            )
        if won:
            return _load(ws, job_id)
    return None


class _Progress:
    """Counts replications done and writes them to the job's row, at most every half second."""

    def __init__(self, ws: Workspace, job_id: str) -> None:
        self.ws = ws
        self.job_id = job_id
        self.done = 0
        self.total = 0
        self._written = 0.0

    def started(self, total: int) -> None:
        self.total = total
        self._write()

    def advance(self, n: int) -> None:
        self.done += n
        if time.monotonic() - self._written >= _PROGRESS_EVERY:
            self._write()

    def _write(self) -> None:
        self._written = time.monotonic()
        with self.ws.session() as session:
            session.execute(
                update(Job)
                .where(Job.job_id == self.job_id)
                .values(progress_done=self.done, progress_total=self.total)
            )


def _finish(ws: Workspace, job_id: str, **values: Any) -> None:
    with ws.session() as session:
        session.execute(
            update(Job).where(Job.job_id == job_id).values(finished_at=utcnow(), **values)
        )


def run_next_job(ws: Workspace) -> JobInfo | None:
    """Run the oldest queued job to its end: the job as it ended, or ``None`` when none was
    waiting."""
    job = _claim(ws)
    if job is None:
        return None
    from caretwin.services.simulation import simulate_model

    scopes = None if job.scopes is None else frozenset(Permission(s) for s in job.scopes)
    actor = Actor(name=job.actor, roles=frozenset(job.roles), kind=job.actor_kind, scopes=scopes)
    ctx = ServiceContext(ws, actor)
    progress = _Progress(ws, job.job_id)
    params = job.params
    try:
        defn = _definition(str(params["model"]), params.get("run_days"), params.get("warmup_days"))
        run = simulate_model(
            ctx,
            defn,
            scenarios=list(params.get("scenarios") or ["baseline"]),
            replications=params.get("replications"),
            seed=params.get("seed"),
            workers=1,  # one process: the server's cores serve requests too
            progress=progress.advance,
            started=progress.started,
        )
    except CareTwinError as exc:
        _finish(ws, job.job_id, status="failed", error=exc.envelope()["error"])
    except Exception as exc:  # a bug must fail the job, not kill the worker
        log.exception("job %s failed", job.job_id)
        _finish(
            ws,
            job.job_id,
            status="failed",
            error={"code": "internal_error", "message": type(exc).__name__},
        )
    else:
        _finish(
            ws,
            job.job_id,
            status="done",
            run_id=run.run_id,
            progress_done=progress.total,
            progress_total=progress.total,
        )
    return JobInfo.of(_load(ws, job.job_id))


class JobWorker:
    """The embedded worker: a daemon thread running queued jobs one at a time."""

    def __init__(self, ws: Workspace, poll_seconds: float = 0.5) -> None:
        self.ws = ws
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="caretwin-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = run_next_job(self.ws)
            except Exception:  # the database away for a moment: try again at the next poll
                log.exception("job worker: could not take a job")
                ran = None
            if ran is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
