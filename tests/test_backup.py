"""Backup of a live workspace and restore into a fresh folder: the restored audit chain and lake
verify, on SQLite and PostgreSQL (restored into SQLite, and into PostgreSQL)."""

from __future__ import annotations

import tarfile
import threading
from pathlib import Path

import orjson
import pytest
from tests.model_helpers import short_reference_model
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.cli.app import app
from caretwin.errors import AccessDenied, ConfigError, DataError
from caretwin.lake import Lake
from caretwin.services.audit import verify_audit
from caretwin.services.backup import backup_workspace, restore_workspace
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.store import list_snapshots
from caretwin.workspace import Workspace
from caretwin.workspace.backup import recomputed_data_hash

ADMIN = Actor("ada", frozenset({"admin"}))
DATA = Path(__file__).parent / "data" / "fhir"


def _busy_backup(ws: Workspace, out: Path, include_key: bool = True) -> dict[str, object]:
    """Back up while another thread keeps appending audit events (and verifying)."""
    ctx = ServiceContext(ws, ADMIN)
    ingest(ctx, [DATA / "mixed.ndjson"])
    stop = threading.Event()

    def churn() -> None:
        log, i = AuditLog(ws), 0
        while not stop.is_set():
            log.record(ADMIN, "sim.run", f"busy-{i}", "ok", {"i": i})
            if i % 10 == 0:
                log.verify()  # checkpoints keep being written during the backup
            i += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        result = backup_workspace(ctx, out, include_key=include_key)
    finally:
        stop.set()
        worker.join()
    return result.to_dict()


def test_backup_of_a_live_workspace_restores_and_verifies(
    any_workspace: Workspace, tmp_path: Path
) -> None:
    ws = any_workspace
    archive = tmp_path / "ws.tar.gz"
    backup = _busy_backup(ws, archive)
    source_hash = Lake(ws.lake_dir).data_hash()
    assert backup["lake_data_hash"] == source_hash and backup["include_key"] is True
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "caretwin.yaml", "db/audit_events.jsonl", "keys/audit.key"} <= names
    assert any(n.startswith("lake/tables/resources/") for n in names)
    assert any(n.startswith("runs/") for n in names)

    restored = restore_workspace(archive, tmp_path / "restored", ADMIN)
    assert restored.audit_ok and restored.lake_ok
    with Workspace.open(tmp_path / "restored") as back:
        assert back.backend == "sqlite"
        assert recomputed_data_hash(back.lake_dir) == source_hash == Lake(back.lake_dir).data_hash()
        assert [s.snapshot_id for s in list_snapshots(back)] == [
            s.snapshot_id for s in list_snapshots(ws)
        ]
        check = verify_audit(ServiceContext(back, ADMIN))
        assert check.ok and check.head_seq is not None
        assert check.head_seq > int(str(backup["audit_head_seq"]))  # the restore's own event
        (event,) = AuditLog(back).list(action="workspace.restore")
        assert event.details["audit_ok"] and event.details["lake_ok"]
    assert verify_audit(ServiceContext(ws, ADMIN)).ok  # the source is untouched


@pytest.mark.postgres
def test_restore_into_postgresql(workspace: Workspace, tmp_path: Path, pg_url: str) -> None:
    archive = tmp_path / "ws.tar.gz"
    _busy_backup(workspace, archive)
    result = restore_workspace(archive, tmp_path / "pg", ADMIN, database_url=pg_url)
    assert result.audit_ok and result.lake_ok
    with Workspace.open(tmp_path / "pg") as back:
        assert back.backend == "postgresql"
        AuditLog(back).record(ADMIN, "sim.run", "after", "ok")  # ids continue past the restored
        assert AuditLog(back).verify().ok


def test_the_key_stays_out_unless_asked(workspace: Workspace, tmp_path: Path) -> None:
    archive = tmp_path / "nokey.tar.gz"
    _busy_backup(workspace, archive, include_key=False)
    with tarfile.open(archive) as tar:
        assert "keys/audit.key" not in tar.getnames()
    with pytest.raises(ConfigError, match="holds no audit key"):
        restore_workspace(archive, tmp_path / "r1", ADMIN)
    assert not (tmp_path / "r1" / "caretwin.yaml").exists()  # nothing half-restored
    key = workspace.root / "keys" / "audit.key"
    assert restore_workspace(archive, tmp_path / "r2", ADMIN, key_file=key).audit_ok


def test_a_damaged_archive_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    archive = tmp_path / "ws.tar.gz"
    _busy_backup(workspace, archive)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            assert data is not None
            body = data.read()
            if member.name == "db/audit_events.jsonl":
                body = body.replace(b'"outcome":"ok"', b'"outcome":"denied"', 1)
                member.size = len(body)
            import io

            dst.addfile(member, io.BytesIO(body))
    with pytest.raises(DataError, match="does not match its checksum"):
        restore_workspace(damaged, tmp_path / "r", ADMIN)


def test_backup_and_restore_need_workspace_admin(workspace: Workspace, tmp_path: Path) -> None:
    viewer = Actor("vic", frozenset({"viewer"}))
    with pytest.raises(AccessDenied):
        backup_workspace(ServiceContext(workspace, viewer), tmp_path / "x.tar.gz")
    assert AuditLog(workspace).list(action="workspace.backup")[0].outcome == "denied"
    with pytest.raises(AccessDenied):
        restore_workspace(tmp_path / "x.tar.gz", tmp_path / "r", viewer)


def test_cli_backup_and_restore(workspace: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli.tar.gz"
    made = runner.invoke(
        app, ["backup", "-o", str(out), "-w", str(workspace.root), "--format", "json"]
    )
    assert made.exit_code == 0, made.output
    assert orjson.loads(made.stdout)["include_key"] is False
    key = workspace.root / "keys" / "audit.key"
    back = runner.invoke(app, ["restore", str(out), "--to", str(tmp_path / "r"), "--key", str(key)])
    assert back.exit_code == 0, back.output
    assert "audit chain ok" in back.stdout and "lake ok" in back.stdout


def test_restored_runs_point_at_their_restored_reports(
    workspace: Workspace, tmp_path: Path
) -> None:
    from caretwin.runs import get_run
    from caretwin.services.simulation import simulate_model

    model = short_reference_model(
        tmp_path / "short.yaml", warmup_days=1, run_days=3, cooldown_days=1, replications=2
    )
    run = simulate_model(ServiceContext(workspace, ADMIN), model, workers=1)
    archive = tmp_path / "ws.tar.gz"
    backup_workspace(ServiceContext(workspace, ADMIN), archive, include_key=True)
    restore_workspace(archive, tmp_path / "r", ADMIN)
    with Workspace.open(tmp_path / "r") as back:
        restored = get_run(back, run.run_id)
        assert restored.report_path is not None
        report = Path(restored.report_path)
        assert report.is_relative_to(back.root) and report.is_file()
        on_disk = orjson.loads((back.runs_dir / run.run_id / "manifest.json").read_bytes())
        assert on_disk["report_path"] == str(report)
