"""Snapshots through the audited services and the CLI: list, show, diff, quality, reproduce."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.quality_helpers import base_resources, defect_encounters, encounter, write_ndjson
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.cli.app import app
from caretwin.errors import AccessDenied, DataError
from caretwin.ingest import ingest_paths
from caretwin.lake import Lake
from caretwin.quality.lineage import table_rows_at
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.services.reproduce import reproduce
from caretwin.services.snapshots import (
    diff_snapshots,
    quality_after_ingest,
    show_snapshot,
    snapshot_list,
    snapshot_quality,
)
from caretwin.workspace import Workspace


def _two_ingests(ws: Workspace, tmp: Path) -> tuple[ServiceContext, str, str]:
    """v1: base + defects (one quarantined); v2: one new patient, one changed encounter."""
    ctx = ServiceContext(workspace=ws, actor=Actor.os_user())
    res = base_resources()
    res["Encounter"] += defect_encounters()
    first = ingest(ctx, [write_ndjson(tmp / "v1", res)])
    p3 = {**res["Patient"][0], "id": "p3"}
    changed = encounter("e-clean", status="in-progress")
    second = ingest(ctx, [write_ndjson(tmp / "v2", {"Patient": [p3], "Encounter": [changed]})])
    return ctx, first.snapshot_id, second.snapshot_id


@pytest.mark.slow
def test_list_show_diff_after_a_second_ingest(workspace: Workspace, tmp_path: Path) -> None:
    ctx, s1, s2 = _two_ingests(workspace, tmp_path)
    items = snapshot_list(ctx)
    assert [s.snapshot_id for s in items] == [s2, s1]
    assert items[0].recorded and items[0].actor == ctx.actor.name and "v2" in items[0].source
    assert items[1].added == 10 and items[1].quarantined == 1

    shown = show_snapshot(ctx, s1[:10])
    assert shown.snapshot.snapshot_id == s1
    assert {c.resource_type: c.added for c in shown.changes} == {
        "Encounter": 4,
        "Location": 4,
        "Patient": 2,
    }
    enc = shown.snapshot.counts["Encounter"]
    assert (enc["added"], enc["unchanged"], enc["quarantined"]) == (4, 0, 1)
    files = {Path(f.source_file).name: (f.records, f.quarantined) for f in shown.files}
    assert files == {
        "Encounter.ndjson": (4, 1),
        "Location.ndjson": (4, 0),
        "Patient.ndjson": (2, 0),
    }
    assert [(Path(q.source_file).name, q.line) for q in shown.quarantine] == [
        ("Encounter.ndjson", 3)
    ]
    assert "end is before start" in shown.quarantine[0].reason
    assert "excerpt" not in shown.quarantine[0].model_dump()

    later = show_snapshot(ctx, s2)
    assert {(c.resource_type, c.added, c.updated) for c in later.changes} == {
        ("Patient", 1, 0),
        ("Encounter", 0, 1),
    }

    d = diff_snapshots(ctx, s1, s2)
    assert (d.from_snapshot, d.to_snapshot, d.swapped, d.snapshots_between) == (s1, s2, False, 1)
    assert {(t.resource_type, t.added, t.updated, t.deleted) for t in d.types} == {
        ("Patient", 1, 0, 0),
        ("Encounter", 0, 1, 0),
    }
    rows = {t.table: (t.before, t.after, t.change) for t in d.tables}
    assert rows["patients"] == (2, 3, 1) and rows["encounters"] == (4, 4, 0)
    assert rows["resources"] == (10, 12, 2) and rows["movements"] == (8, 8, 0)
    assert diff_snapshots(ctx, s2, s1).swapped
    # Row counts rebuilt from the raw layer agree with the lake's own counts.
    lake = Lake(workspace.lake_dir)
    order = [s.snapshot_id for s in lake.catalog().snapshots]
    rebuilt, counts = table_rows_at(lake, order, s2), lake.counts()
    assert rebuilt == {t: counts[t] for t in rebuilt}


@pytest.mark.slow
def test_quality_is_a_reproducible_run_and_permissions_hold(
    workspace: Workspace, tmp_path: Path
) -> None:
    ctx, s1, s2 = _two_ingests(workspace, tmp_path)
    run = snapshot_quality(ctx, s1, html_out=tmp_path / "q.html")
    assert run.report.snapshot_id == s1 and not run.report.current
    assert run.report.finding("ref.encounters.patient_id").count == 1
    assert Path(run.json_path).exists() and Path(run.html_path or "").exists()
    latest = snapshot_quality(ctx)
    assert latest.report.snapshot_id == s2 and latest.report.current
    assert reproduce(ctx, run.run_id).identical
    viewer = ServiceContext(workspace=workspace, actor=Actor("v", frozenset({"viewer"})))
    for call in (lambda: snapshot_list(viewer), lambda: snapshot_quality(viewer, s1)):
        with pytest.raises(AccessDenied):
            call()
    with pytest.raises(DataError, match="too short"):
        show_snapshot(ctx, "ab")
    with pytest.raises(DataError, match="no snapshot"):
        diff_snapshots(ctx, s1, "ffffffffff")
    audited = ctx.audit.list(action="snapshots.quality")
    assert {e.outcome for e in audited} == {"ok", "denied"}
    ok = next(e for e in audited if e.outcome == "ok" and e.details["snapshot_id"] == s1)
    assert ok.details["run_id"] == run.run_id and ok.details["defects"] == 4


def test_ingest_hook_and_lake_only_snapshots(workspace: Workspace, tmp_path: Path) -> None:
    ctx = ServiceContext(workspace=workspace, actor=Actor.os_user())
    res = base_resources()
    direct = ingest_paths(workspace.lake_dir, [write_ndjson(tmp_path / "a", res)])
    items = snapshot_list(ctx)
    assert [(s.snapshot_id, s.recorded) for s in items] == [(direct.snapshot_id, False)]
    report = ingest(ctx, [write_ndjson(tmp_path / "b", {"Encounter": defect_encounters()})])
    run = quality_after_ingest(ctx, report)
    assert run is not None and run.report.defects == 4
    assert quality_after_ingest(ctx, ingest(ctx, [tmp_path / "b"])) is None  # no change


@pytest.mark.slow
def test_cli_snapshots_commands_print_no_record_content(
    workspace: Workspace, tmp_path: Path
) -> None:
    _, s1, s2 = _two_ingests(workspace, tmp_path)
    runner = CliRunner()
    ws = ["--workspace", str(workspace.root)]
    outputs = []
    for args in (
        ["list"],
        ["show", s1[:8]],
        ["diff", s1[:8], s2[:8]],
        ["quality", s1[:8]],
        ["list", "--format", "json"],
        ["show", s1, "--format", "json"],
        ["diff", s1, s2, "--format", "json"],
    ):
        result = runner.invoke(app, ["snapshots", *args, *ws])
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.stdout)
    assert all("Testperson" not in o and "Alex" not in o for o in outputs)
    assert [s["snapshot_id"] for s in orjson.loads(outputs[4])] == [s2, s1]
    assert orjson.loads(outputs[6])["tables"][0]["change"] is not None
    out = tmp_path / "q.json"
    result = runner.invoke(
        app, ["snapshots", "quality", s1, "--format", "json", "-o", str(out), *ws]
    )
    assert result.exit_code == 0 and orjson.loads(out.read_bytes())["report"]["snapshot_id"] == s1
    page = tmp_path / "q.html"
    result = runner.invoke(app, ["snapshots", "quality", "--format", "html", "-o", str(page), *ws])
    assert result.exit_code == 0 and page.exists() and "Testperson" not in page.read_text()
    missing = runner.invoke(app, ["snapshots", "show", "0000000000", *ws])
    assert missing.exit_code == 4 and "Traceback" not in missing.output
