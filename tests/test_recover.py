"""A kill between the lake commit and the metadata record is repaired when the workspace opens."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from caretwin.access import Actor, Permission
from caretwin.audit import AuditLog
from caretwin.faults import FAULT_ENV
from caretwin.lake import Lake
from caretwin.runs import get_run
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.store import list_snapshots
from caretwin.workspace import DB_FILE, Workspace
from caretwin.workspace.config import load_config
from caretwin.workspace.recover import RECOVERY_ACTOR

DATA = Path(__file__).parent / "data" / "fhir"
ADMIN = Actor("root", frozenset({"admin"}))


@pytest.fixture(scope="module")
def _killed_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("killed") / "ws"
    Workspace.init(root).close()
    _killed_ingest(root)
    return root


@pytest.fixture
def killed(_killed_once: Path, tmp_path: Path) -> Path:
    """A workspace whose ingest was killed between the lake commit and the record (a copy)."""
    return Path(shutil.copytree(_killed_once, tmp_path / "ws"))


def _killed_ingest(root: Path) -> None:
    """The ingest service in a child process, SIGKILLed right after the lake commit."""
    code = (
        "import sys; from pathlib import Path; from caretwin.access import Actor; "
        "from caretwin.services.context import ServiceContext; "
        "from caretwin.services.ingestion import ingest; from caretwin.workspace import Workspace; "
        "ingest(ServiceContext(Workspace.open(Path(sys.argv[1])), Actor.os_user()), "
        "[Path(sys.argv[2])])"
    )
    env = {
        **os.environ,
        FAULT_ENV: "ingest.after_lake_commit",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root), str(DATA)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


def _db_rows(root: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(root / DB_FILE) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_snapshot_committed_before_a_kill_is_recorded_and_audited_on_open(killed: Path) -> None:
    root = killed

    # The lake holds the snapshot, the database knows nothing of it: only a `started` event.
    (in_lake,) = Lake(root / "lake").catalog().snapshots
    assert _db_rows(root, "SELECT snapshot_id FROM snapshots") == []
    events = _db_rows(root, "SELECT action, outcome FROM audit_events ORDER BY id")
    assert events[-1] == ("data.ingest", "started")

    with Workspace.open(root) as ws:
        (snap,) = list_snapshots(ws)
        assert (snap.snapshot_id, snap.data_hash) == (in_lake.snapshot_id, in_lake.data_hash)
        assert snap.actor == RECOVERY_ACTOR.name
        assert snap.created_at.isoformat() == in_lake.created_at
        assert snap.counts["Encounter"]["added"] == 3
        (event,) = [e for e in AuditLog(ws).list() if e.outcome == "recovered"]
        assert (event.action, event.actor) == ("data.ingest", RECOVERY_ACTOR.name)
        assert event.details["snapshot_id"] == in_lake.snapshot_id

        # Re-ingesting says "no change", and the snapshot stays recorded once.
        again = ingest(ServiceContext(ws, ADMIN), [DATA])
        assert again.no_change
        assert [s.snapshot_id for s in list_snapshots(ws)] == [in_lake.snapshot_id]

    with Workspace.open(root) as ws:  # nothing left to repair: no second `recovered` event
        assert [e.outcome for e in AuditLog(ws).list()].count("recovered") == 1


@pytest.mark.slow
def test_recovery_waits_while_an_operation_is_running(killed: Path) -> None:
    root = killed
    # Any operation running on the workspace may be between its lake commit and its record
    # (here one in this process; flock locks conflict across descriptors as across processes).
    with Workspace(root, load_config(root)) as ws:  # constructed, not opened: no recovery
        with ServiceContext(ws, ADMIN).operation("data.tables", Permission.DATA_READ, "lake"):
            with Workspace.open(root) as opened:
                assert list_snapshots(opened) == []
    with Workspace.open(root) as ws:
        assert len(list_snapshots(ws)) == 1


@pytest.mark.slow
def test_long_operations_audit_started_before_their_work(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        ctx = ServiceContext(ws, ADMIN)
        ingest(ctx, [DATA])
        ingest_events = [e for e in AuditLog(ws).list() if e.action == "data.ingest"]
        assert [e.outcome for e in ingest_events] == ["ok", "started"]
        assert ingest_events[1].id < ingest_events[0].id
        # short operations write one event only
        assert [e.outcome for e in AuditLog(ws).list(action="snapshots.quality")] == ["ok"]


@pytest.mark.slow
def test_a_killed_run_is_closed_as_interrupted_on_open(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    code = (
        "import sys; from pathlib import Path; from caretwin.access import Actor; "
        "from caretwin.services.context import ServiceContext; "
        "from caretwin.services.simulation import simulate_model; "
        "from caretwin.workspace import Workspace; "
        "simulate_model(ServiceContext(Workspace.open(Path(sys.argv[1])), Actor.os_user()), "
        "'reference-hospital', replications=1, workers=1)"
    )
    env = {**os.environ, FAULT_ENV: "run.after_start", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root)], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    ((run_id, status),) = _db_rows(root, "SELECT run_id, status FROM runs")
    assert status == "running" and not (root / "runs" / run_id / "manifest.json").exists()

    with Workspace.open(root) as ws:
        manifest = get_run(ws, run_id)
        assert manifest.status == "failed" and manifest.error is not None
        assert manifest.error["type"] == "Interrupted" and manifest.finished_at is not None
        on_disk = orjson.loads((root / "runs" / run_id / "manifest.json").read_bytes())
        assert on_disk["status"] == "failed"
        (event,) = [e for e in AuditLog(ws).list() if e.outcome == "recovered"]
        assert (event.action, event.target) == ("runs.recover", run_id)
        started = AuditLog(ws).list(action="sim.run")
        assert [e.outcome for e in started] == ["started"]  # the kill left no end event
