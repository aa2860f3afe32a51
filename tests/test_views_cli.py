"""``caretwin views`` end to end over a real workspace: list, show, run, test, audit, errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from tests.shared import shared_path
from typer.testing import CliRunner

from caretwin.audit import AuditLog
from caretwin.cli.app import app
from caretwin.ingest import ingest_paths
from caretwin.workspace import Workspace

runner = CliRunner()


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    ingest_paths(root / "lake", [shared_path("data", "synthea-10-patients")])
    return root


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


@pytest.mark.slow
def test_list_show_run_and_audit(ws: Path, tmp_path: Path) -> None:
    code, out = _run("views", "list", "--format", "json", "-w", str(ws))
    assert code == 0
    names = {v["name"]: v for v in orjson.loads(out)}
    assert {"patients", "encounters", "movements", "observations"} <= set(names)
    assert not any(v["override"] for v in names.values())

    code, out = _run("views", "show", "movements", "-w", str(ws))
    assert code == 0 and "unnest(" in out and '"forEach": "location"' in out

    code, out = _run(
        "views", "run", "encounters", "--limit", "5", "--format", "json", "-w", str(ws)
    )
    assert code == 0
    shown = orjson.loads(out)
    assert shown["summary"]["engine"] == "compiled" and len(shown["rows"]) == 5

    target = tmp_path / "out" / "procedures.parquet"
    code, out = _run("views", "run", "procedures", "--format", "parquet", "--out", str(target),
                     "-w", str(ws))  # fmt: skip
    assert code == 0, out
    assert pq.read_table(target).num_rows == 2056

    workspace = Workspace.open(ws)
    try:
        events = AuditLog(workspace).list(limit=20)
    finally:
        workspace.close()
    actions = [e.action for e in events]
    assert {"views.list", "views.show", "views.run"} <= set(actions)
    run_event = next(e for e in events if e.action == "views.run" and e.target == "procedures")
    assert run_event.details["rows"] == 2056 and run_event.details["engine"] == "compiled"
    assert "run_id" in run_event.details


def test_override_is_marked_and_broken_override_is_reported(ws: Path) -> None:
    (ws / "views").mkdir()
    (ws / "views" / "patients.json").write_text(
        '{"resourceType": "ViewDefinition", "name": "patients", "resource": "Patient",'
        ' "select": [{"column": [{"name": "patient_id", "path": "id"}]}]}'
    )
    code, out = _run("views", "list", "--format", "json", "-w", str(ws))
    assert code == 0
    assert {v["name"]: v["override"] for v in orjson.loads(out)}["patients"] is True

    (ws / "views" / "patients.json").write_text(
        '{"name": "patients", "resource": "Patient", "select": [{"column": [{"path": "id"}]}]}'
    )
    result = runner.invoke(app, ["views", "list", "-w", str(ws)])
    assert result.exit_code == 3
    assert "select[0].column[0].name" in result.stderr and "Traceback" not in result.output


def test_views_test_command_on_one_file(ws: Path) -> None:
    path = shared_path("conformance", "sql-on-fhir-v2") / "foreach.json"
    code, out = _run("views", "test", str(path), "-w", str(ws))
    assert code == 0
    assert "13/13 non-experimental passed" in out
