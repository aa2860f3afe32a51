"""API benchmark: latency and throughput of ``caretwin serve``'s main read routes with 50
concurrent clients on loopback, and job throughput for queued short simulations.

    python benchmarks/api_bench.py                 # 400 requests per route, 100 jobs
    python benchmarks/api_bench.py -n 1000 --jobs 20 --clients 50

A real ``caretwin serve`` process on a free port and a fresh SQLite workspace (``--database-url``
for PostgreSQL), seeded with 200 recorded runs; a viewer's and an auditor's API token. Per route:
p50/p99 latency (ms) and requests/s with ``--clients`` concurrent httpx clients. ``health``
(no token, no audit, no database) is the baseline of the same run: the difference is the cost
of authentication, the service and the two audit events every other request writes. Then
``--jobs`` simulations of RH1 (1 replication, 1 day, no warm-up) are queued at once and the
time until the last is done gives jobs/s of the embedded worker (one thread, one core).
Timings on the shared 2-core machine are noisy: compare routes within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from caretwin.access import Actor
from caretwin.runs import RunRecorder
from caretwin.services.context import ServiceContext
from caretwin.services.tokens import create_token
from caretwin.services.users import add_user
from caretwin.workspace import Workspace

ADMIN = Actor("bench-admin", frozenset({"admin"}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(ws: Workspace, runs: int) -> tuple[str, str, str, str]:
    """Users with tokens (viewer, auditor, clinician) and ``runs`` recorded runs (the last id)."""
    ctx = ServiceContext(ws, ADMIN)
    add_user(ctx, "viewer", "Bench Viewer", ["viewer"])
    add_user(ctx, "auditor", "Bench Auditor", ["auditor"])
    add_user(ctx, "clin", "Bench Clinician", ["clinician"])
    last = ""
    for _ in range(runs):
        rec = RunRecorder.start(ctx, "simulate", "bench", "h")
        rec.finish({})
        last = rec.run_id
    viewer, auditor, clin = (create_token(ctx, u).token for u in ("viewer", "auditor", "clin"))
    return viewer, auditor, clin, last


async def _load(
    base: str, path: str, token: str | None, n: int, clients: int
) -> tuple[float, float, float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    samples: list[float] = []
    todo = iter(range(n))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as c:
            for _ in todo:
                t0 = time.perf_counter()
                r = await c.get(path)
                samples.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code, r.text[:200])

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - start
    samples.sort()
    return statistics.median(samples), samples[max(0, int(0.99 * len(samples)) - 1)], n / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=400, help="requests per route")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        ws_path = Path(tmp) / "ws"
        ws = Workspace.init(ws_path, database_url=args.database_url)
        viewer, auditor, clin, run_id = _seed(ws, 200)
        ws.close()
        port = _free_port()
        env = dict(os.environ)
        proc = subprocess.Popen(
            [
                *(sys.executable, "-c", "from caretwin.cli.app import main; main()", "serve"),
                *("--port", str(port), "--workspace", str(ws_path)),
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/api/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            print(
                f"caretwin serve on {ws.backend}, {args.clients} concurrent clients, "
                f"{args.n} requests per route"
            )
            print(f"{'route':<34} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
            routes = [
                ("/api/v1/health (baseline)", "/api/v1/health", None),
                ("/api/v1/runs?limit=20", "/api/v1/runs?limit=20", viewer),
                ("/api/v1/runs/{id}", f"/api/v1/runs/{run_id}", viewer),
                ("/api/v1/examples", "/api/v1/examples", viewer),
                ("/api/v1/audit?limit=20", "/api/v1/audit?limit=20", auditor),
            ]
            for label, path, token in routes:
                p50, p99, rps = asyncio.run(_load(base, path, token, args.n, args.clients))
                print(f"{label:<34} {p50:8.1f} {p99:8.1f} {rps:8.1f}")

            h = {"Authorization": f"Bearer {clin}"}
            body = {"model": "reference-hospital", "replications": 1, "run_days": 1}
            body["warmup_days"] = 0
            # one job first: the engine's JIT compile is paid once, not counted
            url = (
                base
                + httpx.post(f"{base}/api/v1/simulations", json=body, headers=h).headers["location"]
            )
            while httpx.get(url, headers=h).json()["status"] in ("queued", "running"):
                time.sleep(0.2)
            start = time.perf_counter()
            urls = [
                base
                + httpx.post(f"{base}/api/v1/simulations", json=body, headers=h).headers["location"]
                for _ in range(args.jobs)
            ]
            queued = time.perf_counter() - start
            statuses: dict[str, int] = {}
            while True:
                last = httpx.get(urls[-1], headers=h).json()["status"]
                if last not in ("queued", "running"):
                    break
                time.sleep(0.2)
            wall = time.perf_counter() - start
            for u in urls:
                s = httpx.get(u, headers=h).json()["status"]
                statuses[s] = statuses.get(s, 0) + 1
            print(
                f"jobs: {args.jobs} queued in {queued:.1f} s, all finished in {wall:.1f} s "
                f"({args.jobs / wall:.2f} jobs/s on the embedded worker); statuses {statuses}"
            )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
