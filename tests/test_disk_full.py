"""A full disk: ingest and simulate fail with one clear error and leave the workspace as it was.

The workspace lives on a small tmpfs filled to a few hundred KB of free space (mounting needs
root, which CI has; elsewhere the tests skip and say why).
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.model_helpers import short_reference_model
from tests.ndjson_helpers import stay, write_ndjson
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.cli.app import app
from caretwin.diskfull import is_disk_full
from caretwin.errors import DataError, DiskFull, StoreError
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.services.simulation import simulate_model
from caretwin.workspace import DB_FILE, Workspace

DATA = Path(__file__).parent / "data" / "fhir"
ADMIN = Actor("root", frozenset({"admin"}))
FREE_BYTES = 256 << 10


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError as exc:
        pytest.skip(f"cannot mount a small tmpfs: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, timeout=30)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` bytes of free space."""
    fill = disk / "fill"
    fill.unlink(missing_ok=True)
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(fill, "wb") as fh:
        block = b"\0" * (1 << 20)
        todo = free - leave
        while todo > 0:
            todo -= fh.write(block[: min(len(block), todo)])
    return fill


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder of the workspace but the database, with a content hash."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == DB_FILE:
            continue
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _records(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The metadata database's snapshots and runs (the audit trail is expected to grow)."""
    with sqlite3.connect(root / DB_FILE) as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("snapshots", "runs")
        }


def _write_encounters(path: Path, n: int) -> Path:
    rng = random.Random(7)
    start, end = "2025-02-01T10:00:00Z", "2025-02-02T10:00:00Z"
    return write_ndjson(
        path,
        # the text is hardly compressible: the file needs the space
        (
            stay(f"big-{i}", f"p{i}", start, end) | {"text": {"div": rng.randbytes(96).hex()}}
            for i in range(n)
        ),
    )


def _short_model(tmp_path: Path) -> Path:
    return short_reference_model(
        tmp_path / "rh1-short.yaml", warmup_days=1, run_days=7, cooldown_days=1, replications=2
    )


@pytest.mark.slow
def test_ingest_and_simulate_on_a_full_disk_fail_clearly_and_change_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    root = small_disk / "ws"
    model = _short_model(tmp_path)
    big = _write_encounters(tmp_path / "Encounter.000.ndjson", 8000)  # ~2.5 MB
    with Workspace.init(root) as ws:
        ctx = ServiceContext(ws, ADMIN)
        ingest(ctx, [DATA])
        simulate_model(ctx, model, workers=1, report=False)
        tree, records = _tree(root), _records(root)
        # Room for neither the parsed records (Arrow in the parser) nor, with as much free as
        # the input's size, the raw layer (DuckDB, after parsing): two different writers fail.
        for leave in (FREE_BYTES, big.stat().st_size):
            fill = _fill(small_disk, leave)
            with pytest.raises(DiskFull, match="no space left on the disk holding the workspace"):
                ingest(ctx, [big])
            assert _tree(root) == tree
            assert _records(root) == records
            event, started = AuditLog(ws).list(limit=2)
            assert (started.action, started.outcome) == ("data.ingest", "started")
            assert (event.outcome, event.details["error"]["type"]) == ("error", "DiskFull")
        fill = _fill(small_disk, FREE_BYTES)

        with pytest.raises(DiskFull):
            simulate_model(ctx, model, workers=1, report=True)  # the report needs ~5 MB
        assert _tree(root) == tree
        assert _records(root) == records
        (event,) = AuditLog(ws).list(limit=1)
        assert event.action == "sim.run" and event.details["run_id"]  # the attempt is on record

        result = CliRunner().invoke(app, ["ingest", str(big), "-w", str(root)])
        assert result.exit_code == DiskFull.exit_code == 7
        assert "no space left" in result.stderr and "Traceback" not in result.output
        assert _tree(root) == tree

        fill.unlink()  # with room again, the same ingest works
        report = ingest(ctx, [big])
        assert report.counts["Encounter"].added == 8000


def test_disk_full_is_recognised_behind_each_library() -> None:
    enospc = OSError(errno.ENOSPC, "No space left on device")
    assert is_disk_full(enospc)
    wrapped = DataError("ingest failed: IO Error: Could not write file: No space left on device")
    assert is_disk_full(wrapped)
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as exc:
            raise StoreError("metadata database error") from exc
    except StoreError as store:
        assert is_disk_full(store)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(DataError("no patients"))
