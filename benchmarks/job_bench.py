"""Job throughput on a PostgreSQL queue: the embedded worker against 1 and 2 ``caretwin worker``
processes (``python benchmarks/run.py --only jobs``, or this file directly)::

    python benchmarks/job_bench.py                  # 100 jobs per set-up
    python benchmarks/job_bench.py --jobs 20 --pg postgresql+psycopg://127.0.0.1:5432/test

Each set-up gets a fresh workspace on a throwaway schema of the PostgreSQL database; its
workers are started first and each runs one warm-up job (numba's cache loaded, plugins
imported), then ``--jobs`` short simulations of RH1 (1 replication, 1 day, no warm-up) are
queued at once and the time from the first submit until the last is done gives jobs/s. The
embedded worker is ``caretwin serve``'s (one runner thread in this process) and is the baseline
of the ratios. Figures on a shared machine are noisy; the machine's load is printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

if __package__ in (None, ""):  # run as a script: make `benchmarks.*` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caretwin.access import Actor
from caretwin.services.context import ServiceContext
from caretwin.services.jobs import JobWorker, list_jobs, submit_job
from caretwin.store import AuditEvent
from caretwin.workspace import Workspace

PG = os.environ.get("CARETWIN_BENCH_PG", "postgresql+psycopg://127.0.0.1:5432/test")
TINY = {"model": "reference-hospital", "replications": 1, "run_days": 1, "warmup_days": 0}
ADMIN = Actor("bench", frozenset({"admin"}))
_CLI = (sys.executable, "-c", "from caretwin.cli.app import main; main()")


@contextmanager
def _schema(base: str) -> Iterator[str]:
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    name = f"ct_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _wait(what: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {seconds} s")
        time.sleep(0.05)


def _done(ctx: ServiceContext, n: int) -> bool:
    return sum(j.status in ("done", "failed") for j in list_jobs(ctx, limit=n + 10)) >= n


def _batch(ctx: ServiceContext, n: int, first: int) -> float:
    """Queue ``n`` jobs at once; seconds until every job so far has ended."""
    started = time.monotonic()
    for i in range(n):
        submit_job(ctx, "simulate", {**TINY, "seed": first + i})
    _wait(lambda: _done(ctx, first + n), 3600)
    return time.monotonic() - started


def _workers_ready(ws: Workspace, n: int) -> bool:
    with ws.session() as session:
        started = session.query(AuditEvent).filter(AuditEvent.action == "jobs.worker").count()
    return started >= n


def measure(setup: str, jobs: int) -> float:
    """jobs/s of ``setup``: ``embedded``, or ``N`` worker processes."""
    with _schema(PG) as url, tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws", database_url=url)
        ctx = ServiceContext(ws, ADMIN)
        procs: list[subprocess.Popen[bytes]] = []
        embedded = None
        try:
            if setup == "embedded":
                embedded = JobWorker(ws, 0.5)
                embedded.start()
                warm = 1
            else:
                warm = int(setup)
                procs = [
                    subprocess.Popen(
                        [*_CLI, "worker", "--workspace", str(ws.root), "--poll", "0.5"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for _ in range(warm)
                ]
                _wait(lambda: _workers_ready(ws, warm), 300)
            _batch(ctx, warm * 2, 0)  # warm-up: caches loaded where the jobs run
            seconds = _batch(ctx, jobs, warm * 2)
        finally:
            if embedded is not None:
                embedded.stop(60)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(120)
            ws.close()
    return jobs / seconds


def bench(jobs: int) -> None:
    load = os.getloadavg()[0]
    print(f"\n== job throughput: {jobs} short RH1 simulations on PostgreSQL (load {load:.1f})")
    try:
        with _schema(PG):
            pass
    except Exception as exc:  # no server: say so and go on with the other benchmarks
        print(f"   skipped: PostgreSQL at {PG} not reachable ({type(exc).__name__})")
        return
    base = measure("embedded", jobs)
    print(f"   embedded worker (serve, 1 thread):  {base:6.2f} jobs/s  (baseline)")
    for n in (1, 2):
        rate = measure(str(n), jobs)
        label = f"{n} `caretwin worker` process{'es' if n > 1 else ''}:"
        print(f"   {label:36s}{rate:6.2f} jobs/s  x{rate / base:.2f}")


def main() -> None:
    global PG
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--pg", default=PG, help="PostgreSQL SQLAlchemy URL (a schema is made)")
    args = ap.parse_args()
    PG = args.pg
    bench(args.jobs)


if __name__ == "__main__":
    main()
