"""Workers: the threads that take jobs from the queue and run them, as ``caretwin serve``'s
embedded worker or as a ``caretwin worker`` process.

A :class:`JobWorker` runs ``concurrency`` runner threads, each claiming one job at a time
(:func:`caretwin.services.job_queue.claim`), and one housekeeping thread that renews the leases
of the jobs this worker runs, reaps the jobs of dead workers and fires due schedules. On
PostgreSQL a listener thread waits on ``LISTEN`` and wakes idle runners as soon as a job is
queued; runners poll too, so a lost connection only slows them to the poll interval.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from typing import Any

from caretwin.access import Actor, Permission
from caretwin.errors import Cancelled, CareTwinError
from caretwin.services.context import ServiceContext
from caretwin.services.job_info import JobInfo
from caretwin.services.job_queue import (
    DEFAULT_LEASE_SECONDS,
    SERVER_ACTOR,
    channel,
    claim,
    finish,
    heartbeat,
    job_kind,
    reap_expired,
)
from caretwin.services.results import ServiceResult
from caretwin.store.jobs import Job
from caretwin.workspace import Workspace

__all__ = ["JobWorker", "WorkerRun", "run_job", "run_next_job", "run_worker", "worker_name"]

log = logging.getLogger(__name__)

#: Progress is written (and a cancel request read) at most this often, in seconds.
PROGRESS_EVERY = 0.5
_runners = itertools.count()


def worker_name(n: int | None = None) -> str:
    """``host:pid:n``: who holds a job, readable by an operator looking at the jobs table
    (``n`` numbers the runner threads of the process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{next(_runners) if n is None else n}"


class _Progress:
    """A job's :class:`~caretwin.plugins.JobProgress`: writes progress to the job's row and
    reads its cancel request, at most every :data:`PROGRESS_EVERY` seconds."""

    def __init__(self, ws: Workspace, job_id: str, cancellable: bool) -> None:
        self.ws = ws
        self.job_id = job_id
        self.cancellable = cancellable
        self.done = 0
        self.total = 0
        self.requested_by: str | None = None
        self._synced = 0.0

    def started(self, total: int) -> None:
        self.total = total
        self._sync(force=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._sync()

    def check(self) -> None:
        self._sync()

    def _sync(self, force: bool = False) -> None:
        from sqlalchemy import select, update

        if force or time.monotonic() - self._synced >= PROGRESS_EVERY:
            self._synced = time.monotonic()
            with self.ws.session() as session:
                session.execute(
                    update(Job)
                    .where(Job.job_id == self.job_id)
                    .values(progress_done=self.done, progress_total=self.total)
                )
                self.requested_by = session.scalar(
                    select(Job.cancel_requested_by).where(Job.job_id == self.job_id)
                )
        if self.requested_by is not None and self.cancellable:
            raise Cancelled(
                f"job {self.job_id} was cancelled by {self.requested_by}",
                details={"job_id": self.job_id, "cancelled_by": self.requested_by},
            )


def _actor(job: Job) -> Actor:
    scopes = None if job.scopes is None else frozenset(Permission(s) for s in job.scopes)
    return Actor(name=job.actor, roles=frozenset(job.roles), kind=job.actor_kind, scopes=scopes)


def _result(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    dumped: dict[str, Any] = value.model_dump(mode="json")
    return dumped


def run_job(ws: Workspace, job: Job, worker: str) -> JobInfo:
    """Run a job ``worker`` claimed to its end, as the actor who submitted it; the job's row
    as it ended. A bug in a runner fails the job, never the worker."""
    progress = _Progress(ws, job.job_id, cancellable=False)
    try:
        spec = job_kind(job.kind)
        progress.cancellable = spec.cancellable
        params = spec.params().model_validate(job.params)
        out = spec.run(ServiceContext(ws, _actor(job)), params, progress)
    except Cancelled:
        who = progress.requested_by or "?"
        finish(ws, job.job_id, worker, status="cancelled", cancelled_by=who)
        ServiceContext(ws, SERVER_ACTOR).audit.record(
            SERVER_ACTOR, "jobs.cancelled", job.job_id, "ok", {"cancelled_by": who}
        )
    except CareTwinError as exc:
        finish(ws, job.job_id, worker, status="failed", error=exc.envelope()["error"])
    except Exception as exc:
        log.exception("job %s failed", job.job_id)
        error = {"code": "internal_error", "message": type(exc).__name__}
        finish(ws, job.job_id, worker, status="failed", error=error)
    else:
        total = progress.total or progress.done
        if not finish(
            ws,
            job.job_id,
            worker,
            status="done",
            run_id=out.run_id,
            result=_result(out.result),
            error=None,
            progress_done=total,
            progress_total=total,
        ):
            log.warning("job %s finished after its lease was lost; result not recorded", job.job_id)
    with ws.session() as session:
        row = session.get(Job, job.job_id)
    return JobInfo.of(row if row is not None else job)


def run_next_job(ws: Workspace, worker: str | None = None) -> JobInfo | None:
    """Claim and run the oldest queued job in this thread: the job as it ended, or ``None``
    when none was waiting."""
    name = worker or worker_name()
    job = claim(ws, name, DEFAULT_LEASE_SECONDS)
    if job is None:
        return None
    return run_job(ws, job, name)


class JobWorker:
    """Runner threads taking jobs from the workspace's queue, plus housekeeping.

    ``schedules``: also fire due schedules (every ``schedule_seconds``). ``stop()`` lets
    running jobs finish (a graceful stop); their leases are renewed until they do.
    """

    def __init__(
        self,
        ws: Workspace,
        poll_seconds: float = 0.5,
        *,
        concurrency: int = 1,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        schedules: bool = True,
        schedule_seconds: float = 5.0,
        listen: bool = True,
    ) -> None:
        self.ws = ws
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.schedules = schedules
        self.schedule_seconds = schedule_seconds
        self.names = [worker_name() for _ in range(max(1, concurrency))]
        self.running: dict[str, str] = {}  # runner name -> job id
        self.ran = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wakes = [threading.Event() for _ in self.names]
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"caretwin-jobs-{i}", daemon=True)
            for i in range(len(self.names))
        ]
        self._threads.append(
            threading.Thread(target=self._housekeep, name="caretwin-jobs-house", daemon=True)
        )
        if listen and ws.backend == "postgresql":
            self._threads.append(
                threading.Thread(target=self._listen, name="caretwin-jobs-listen", daemon=True)
            )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        for event in self._wakes:
            event.set()

    def stop(self, timeout: float | None = None) -> None:
        """Take no more jobs, let the running ones finish (up to ``timeout`` seconds)."""
        self._stop.set()
        self.wake()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(left)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self, i: int) -> None:
        name, wake = self.names[i], self._wakes[i]
        while not self._stop.is_set():
            try:
                job = claim(self.ws, name, self.lease_seconds)
            except Exception:  # the database away for a moment: try again at the next poll
                log.exception("job worker: could not take a job")
                job = None
            if job is None:
                wake.wait(self.poll_seconds)
                wake.clear()
                continue
            with self._lock:
                self.running[name] = job.job_id
            try:
                run_job(self.ws, job, name)
            except Exception:
                log.exception("job worker: could not record job %s", job.job_id)
            finally:
                with self._lock:
                    self.running.pop(name, None)
                    self.ran += 1

    def _housekeep(self) -> None:
        beat = self.lease_seconds / 3
        tick = min(beat, self.schedule_seconds, 1.0)
        last_beat = last_reap = last_fire = 0.0
        while not (self._stop.is_set() and not self.running):
            now = time.monotonic()
            try:
                if now - last_beat >= beat:
                    last_beat = now
                    with self._lock:
                        held = dict(self.running)
                    for name, job_id in held.items():
                        heartbeat(self.ws, name, [job_id], self.lease_seconds)
                if now - last_reap >= self.lease_seconds / 2 and not self._stop.is_set():
                    last_reap = now
                    if reap_expired(self.ws):
                        self.wake()
                if (
                    self.schedules
                    and now - last_fire >= self.schedule_seconds
                    and not self._stop.is_set()
                ):
                    last_fire = now
                    from caretwin.services.schedules import fire_due

                    if fire_due(self.ws, self.names[0]):
                        self.wake()
            except Exception:
                log.exception("job worker: housekeeping failed; trying again")
            self._stop.wait(tick)

    def _listen(self) -> None:
        """Wake runners on ``NOTIFY`` (psycopg 3); on any error fall back to polling a while."""
        import psycopg

        url = self.ws.engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{channel(self.ws)}"')
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake()
            except Exception as exc:
                log.warning("job worker: LISTEN failed (%s); polling", type(exc).__name__)
                self._stop.wait(10 * self.poll_seconds)


class WorkerRun(ServiceResult):
    """What a ``caretwin worker`` process did before it stopped."""

    workers: list[str]
    reaped: int
    ran: int
    seconds: float


def run_worker(
    ctx: ServiceContext,
    stop: threading.Event,
    *,
    concurrency: int = 1,
    poll_seconds: float = 2.0,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    schedule_seconds: float = 5.0,
    max_jobs: int | None = None,
) -> WorkerRun:
    """Run a worker on ``ctx``'s workspace until ``stop`` is set (then let running jobs end).

    Starting one is an administrator's act (it runs everyone's jobs, as them); it is audited at
    start and stop. ``max_jobs``: stop by itself after that many jobs (benchmarks, tests).
    """
    ws = ctx.workspace
    host = f"{socket.gethostname()}:{os.getpid()}"
    with ctx.operation("jobs.worker", Permission.WORKSPACE_ADMIN, target=host) as op:
        reaped = len(reap_expired(ws))
        op.details.update(concurrency=concurrency, reaped=reaped)
    started = time.monotonic()
    worker = JobWorker(
        ws,
        poll_seconds,
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        schedule_seconds=schedule_seconds,
    )
    worker.start()
    try:
        while not stop.wait(0.2):
            if max_jobs is not None and worker.ran >= max_jobs:
                break
    finally:
        worker.stop()
    seconds = round(time.monotonic() - started, 3)
    ctx.audit.record(ctx.actor, "jobs.worker.stop", host, "ok", {"ran": worker.ran})
    return WorkerRun(workers=worker.names, reaped=reaped, ran=worker.ran, seconds=seconds)
