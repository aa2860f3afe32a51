"""Audit chain benchmark: append cost with the chain vs a plain insert, and verify speed.

``python benchmarks/audit_bench.py [--events 2000] [--postgres URL]``: in one process, on a fresh
SQLite workspace (and PostgreSQL when a URL is given), times ``--events`` appends through
:meth:`AuditLog.record` (lock, head read, HMAC, insert: one transaction each) against the same
number of plain one-row inserts of the table (the baseline: what an append cost before the
chain), then ``audit verify`` over the whole table and a backup of the workspace.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.store.models import AuditEvent, utcnow
from caretwin.workspace import Workspace
from caretwin.workspace.backup import write_archive

ADMIN = Actor("bench", frozenset({"admin"}))


def bench(ws: Workspace, events: int, label: str) -> None:
    started = time.perf_counter()
    for i in range(events):
        with ws.session() as session:
            session.add(
                AuditEvent(
                    at=utcnow(),
                    actor="bench",
                    roles=["admin"],
                    action="sim.run",
                    target=f"plain-{i}",
                    outcome="ok",
                    details={"i": i},
                )
            )
    plain = time.perf_counter() - started
    log = AuditLog(ws)
    log.record(ADMIN, "bench.start", "x", "ok")  # genesis seals the plain rows
    started = time.perf_counter()
    for i in range(events):
        log.record(ADMIN, "sim.run", f"chained-{i}", "ok", {"i": i})
    chained = time.perf_counter() - started
    started = time.perf_counter()
    report = log.verify()
    verify = time.perf_counter() - started
    assert report.ok, report.problem
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        info = write_archive(ws, Path(tmp) / "b.tar.gz")
        backup = time.perf_counter() - started
    print(f"[{label}] {events} appends: plain insert {plain / events * 1e3:.2f} ms each "
          f"(baseline), chained {chained / events * 1e3:.2f} ms each "
          f"({chained / plain:.2f}x)")  # fmt: skip
    print(f"[{label}] verify of {report.events} events ({report.chained} chained): "
          f"{verify:.3f} s ({report.events / verify:,.0f} events/s)")  # fmt: skip
    print(f"[{label}] backup: {info.files} files, {info.bytes / 1e6:.1f} MB in {backup:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (a fresh schema)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with Workspace.init(Path(tmp) / "ws") as ws:
            bench(ws, args.events, "sqlite")
        if args.postgres:
            with Workspace.init(Path(tmp) / "pg", database_url=args.postgres) as ws:
                bench(ws, args.events, "postgresql")


if __name__ == "__main__":
    main()
