"""``caretwin worker`` processes on a PostgreSQL queue: two of them share the jobs and never take
the same one; SIGTERM lets them finish and exit 0; one killed mid-job is detected once its lease
runs out and its job is failed with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.api_helpers import ADMIN

from caretwin.services.context import ServiceContext
from caretwin.services.jobs import JobInfo, fail_interrupted, get_job, submit_job
from caretwin.services.runs import list_runs_op
from caretwin.store import AuditEvent
from caretwin.workspace import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

_CLI = (sys.executable, "-c", "from caretwin.cli.app import main; main()")
TINY = {"model": "reference-hospital", "replications": 1, "run_days": 1, "warmup_days": 0}


def _worker(root: Path, *args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [*_CLI, "worker", "--workspace", str(root), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _events(ws: Workspace, action: str, outcome: str = "ok") -> list[AuditEvent]:
    with ws.session() as session:
        return list(
            session.query(AuditEvent).filter(
                AuditEvent.action == action, AuditEvent.outcome == outcome
            )
        )


def _until(what: Callable[[], bool], seconds: float, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(p.stderr.read().decode() if p.stderr else "worker died")
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.1)


def _stop(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=60))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return codes


def test_two_workers_share_the_queue_and_never_take_the_same_job(
    pg_url: str, tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    ws = Workspace.init(tmp_path / "ws", database_url=pg_url)
    ctx = ServiceContext(ws, ADMIN)
    # 5 s polls: jobs taken sooner than that were woken by NOTIFY
    procs = [_worker(ws.root, "--poll", "5") for _ in range(2)]
    try:
        _until(lambda: len(_events(ws, "jobs.worker")) == 2, 60, procs)
        time.sleep(1.0)  # their runner and LISTEN threads start after that event
        started = time.monotonic()
        ids = [submit_job(ctx, "simulate", {**TINY, "seed": i}).job_id for i in range(16)]
        jobs: list[JobInfo] = []

        def all_done() -> bool:
            nonlocal jobs
            jobs = [get_job(ctx, i) for i in ids]
            return all(j.status in ("done", "failed") for j in jobs)

        _until(all_done, 180, procs)
        seconds = time.monotonic() - started
    finally:
        codes = _stop(procs)
    assert codes == [0, 0]  # SIGTERM: finished what they ran, exited cleanly
    assert [j.status for j in jobs] == ["done"] * 16, [j.error for j in jobs]
    assert all(j.attempts == 1 for j in jobs)
    runs = list_runs_op(ctx)
    assert sorted(r.run_id for r in runs) == sorted(str(j.run_id) for j in jobs)
    assert len(_events(ws, "sim.run")) == 16  # each job ran once
    pids = {str(j.worker).split(":")[1] for j in jobs}
    assert pids == {str(p.pid) for p in procs}, "both workers took jobs"
    per = {pid: sum(str(j.worker).split(":")[1] == pid for j in jobs) for pid in sorted(pids)}
    report_figure(
        f"2 worker processes on PostgreSQL: 16 jobs in {seconds:.1f} s, "
        f"split {sorted(per.values())}, none taken twice"
    )


def test_a_killed_worker_is_detected_and_its_job_failed_with_the_reason(
    pg_url: str, tmp_path: Path
) -> None:
    ws = Workspace.init(tmp_path / "ws", database_url=pg_url)
    ctx = ServiceContext(ws, ADMIN)
    proc = _worker(ws.root, "--poll", "0.2", "--lease", "2")
    try:
        _until(lambda: len(_events(ws, "jobs.worker")) == 1, 60, [proc])
        job = submit_job(ctx, "simulate", {**TINY, "replications": 1000})
        _until(lambda: get_job(ctx, job.job_id).done > 0, 120, [proc])
    finally:
        proc.kill()  # no goodbye: SIGKILL mid-job
        proc.wait()
    assert get_job(ctx, job.job_id).status == "running"  # nobody knows yet
    time.sleep(2.5)  # the lease runs out
    (reaped,) = fail_interrupted(ws)
    assert reaped.job_id == job.job_id and reaped.status == "failed"
    assert reaped.error is not None and reaped.error["code"] == "interrupted"
    assert f":{proc.pid}:" in reaped.error["details"]["worker"]
    assert "submit it again" in reaped.error["message"]
    (event,) = _events(ws, "jobs.interrupted", "error")
    assert event.target == job.job_id
