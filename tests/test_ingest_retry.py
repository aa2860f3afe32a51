"""Exit codes and messages of an ingest, and retrying quarantined records after a fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from caretwin.audit import AuditLog
from caretwin.cli.app import app
from caretwin.lake import Lake
from caretwin.views.catalog import shipped_views
from caretwin.workspace import Workspace

OK = {"resourceType": "Patient", "id": "p1", "gender": "female"}
BANANA = {"resourceType": "Patient", "id": "p2", "gender": "banana"}


def _cli(workspace: Workspace, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--workspace", str(workspace.root)])


def _write(path: Path, *docs: dict[str, Any]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")
    return path


def _quarantine(workspace: Workspace) -> list[dict[str, Any]]:
    out = _cli(workspace, "lake", "quarantine", "--format", "json")
    assert out.exit_code == 0, out.output
    rows: list[dict[str, Any]] = orjson.loads(out.stdout)
    return rows


def test_no_supported_file_is_a_data_error_naming_what_was_skipped(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.md").write_text("hello\n")
    (folder / "synth-manifest.json").write_text("{}\n")
    out = _cli(workspace, "ingest", str(folder))
    assert out.exit_code == 4, out.output
    assert "no supported input file" in out.output and "notes.md (unsupported kind)" in out.output


def test_all_quarantined_is_a_data_error_but_the_reasons_are_kept(
    workspace: Workspace, tmp_path: Path
) -> None:
    bad = _write(tmp_path / "bad.ndjson", BANANA, {**BANANA, "id": "p3", "gender": 1})
    out = _cli(workspace, "ingest", str(bad))
    assert out.exit_code == 4, out.output
    assert "every record was quarantined (2)" in out.output
    assert "caretwin lake quarantine" in out.output
    assert len(_quarantine(workspace)) == 2  # committed, so the reasons can be read


def test_summary_lists_skipped_files_and_says_how_to_read_reasons(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "patients.ndjson", OK, BANANA)
    (folder / "readme.md").write_text("about this export\n")
    out = _cli(workspace, "ingest", str(folder))
    assert out.exit_code == 0, out.output
    assert "skipped 1 files" in out.output and "readme.md (unsupported kind)" in out.output
    assert "See why with `caretwin lake quarantine`" in out.output


@pytest.mark.slow
def test_retry_after_a_corrected_file_and_by_reingest(workspace: Workspace, tmp_path: Path) -> None:
    first = _write(tmp_path / "first.ndjson", OK, BANANA)
    second = _write(tmp_path / "second.ndjson", {**BANANA, "id": "p4"})
    assert _cli(workspace, "ingest", str(first)).exit_code == 0
    assert _cli(workspace, "ingest", str(second)).exit_code == 4
    rows = _quarantine(workspace)
    assert [(Path(r["source_file"]).name, r["line"]) for r in rows] == [
        ("first.ndjson", 2), ("second.ndjson", 1)
    ]  # fmt: skip
    _write(first, OK, {**BANANA, "gender": "other"})  # corrected in place
    out = _cli(workspace, "lake", "retry", "--id", rows[0]["id"])
    assert out.exit_code == 0, out.output
    assert "1 quarantined records retried: 1 left the quarantine, 0 still there" in out.output
    assert [Path(r["source_file"]).name for r in _quarantine(workspace)] == ["second.ndjson"]
    _write(second, {**BANANA, "id": "p4", "gender": "male"})
    assert _cli(workspace, "ingest", str(second)).exit_code == 0  # re-ingest clears it too
    assert _quarantine(workspace) == []
    patients = Lake(workspace.lake_dir).read_table("patients").to_pylist()
    assert sorted((p["patient_id"], p["gender"]) for p in patients) == [
        ("p1", "female"), ("p2", "other"), ("p4", "male")
    ]  # fmt: skip


@pytest.mark.slow
def test_retry_after_a_site_view_is_fixed(workspace: Workspace, tmp_path: Path) -> None:
    shipped = shipped_views()["patients"].view.raw
    select = [{"column": [
        {"name": "patient_id", "path": "getResourceKey()", "type": "id"},
        {"name": "gender", "path": "gender", "type": "code"},
        {"name": "birth_date", "path": "birthDate", "type": "date"},
        {"name": "mrn", "path": "identifier.value", "type": "string"}]}]  # fmt: skip
    views = workspace.root / "views"
    views.mkdir(exist_ok=True)
    (views / "patients.json").write_bytes(orjson.dumps({**shipped, "select": select}))
    two = {**OK, "identifier": [{"value": "A"}, {"value": "B"}]}
    path = _write(tmp_path / "p.ndjson", two, {**OK, "id": "p9"})
    assert _cli(workspace, "ingest", str(path)).exit_code == 0
    [row] = _quarantine(workspace)
    assert row["reason"].startswith("view patients: column 'mrn'")
    still = _cli(workspace, "lake", "retry", "--all")
    assert "0 left the quarantine, 1 still there" in still.output, still.output
    (views / "patients.json").unlink()  # the site fixes its mapping: back to the shipped view
    out = _cli(workspace, "lake", "retry", "--all", "--format", "json")
    assert out.exit_code == 0, out.output
    result = orjson.loads(out.stdout)
    assert (result["selected"], result["cleared"], result["still_quarantined"]) == (1, 1, 0)
    assert _quarantine(workspace) == []
    ids = Lake(workspace.lake_dir).read_table("patients")["patient_id"].to_pylist()
    assert sorted(ids) == ["p1", "p9"]
    assert _cli(workspace, "lake", "retry").exit_code == 4  # says what to select
    events = [e for e in AuditLog(workspace).list(action="data.retry") if e.outcome != "started"]
    assert [(e.outcome, e.target) for e in events] == [("ok", "all"), ("ok", "all")]
    assert (events[0].details["selected"], events[0].details["cleared"]) == (1, 1)
    assert (events[1].details["selected"], events[1].details["cleared"]) == (1, 0)
    assert "p1" not in str(events[0].details)  # ids and counts only, no record content
