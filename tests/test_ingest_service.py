"""The audited service, the CLI, and throughput on a larger generated file."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from tests.ndjson_helpers import stay, write_ndjson
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.cli.app import app
from caretwin.ingest import ingest_paths
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest, quarantine_rows
from caretwin.store import list_snapshots
from caretwin.workspace import Workspace

DATA = Path(__file__).parent / "data" / "fhir"


def test_service_records_snapshot_once_and_audits(workspace: Workspace) -> None:
    ctx = ServiceContext(workspace=workspace, actor=Actor.os_user())
    report = ingest(ctx, [DATA])
    assert not report.no_change
    again = ingest(ctx, [DATA])
    assert again.no_change
    snaps = list_snapshots(workspace)
    assert [s.snapshot_id for s in snaps] == [report.snapshot_id]
    assert snaps[0].data_hash == report.data_hash
    rows = quarantine_rows(ctx, limit=5)
    assert len(rows) == 5 and "excerpt" not in rows[0].to_dict()


def test_cli_ingest_json_and_lake_commands_print_no_phi(workspace: Workspace) -> None:
    runner = CliRunner()
    ws = ["--workspace", str(workspace.root)]
    result = runner.invoke(app, ["ingest", str(DATA), *ws, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["counts"]["Encounter"]["added"] == 3
    table = runner.invoke(app, ["ingest", str(DATA / "bundle_transaction.json"), *ws])
    assert table.exit_code == 0 and "no change" in table.stdout
    for args in (["lake", "tables"], ["lake", "quarantine", "--limit", "50"]):
        out = runner.invoke(app, [*args, *ws])
        assert out.exit_code == 0, out.output
        assert "Testperson" not in out.stdout and "Alex" not in out.stdout
    assert "Testperson" not in result.stdout
    missing = runner.invoke(app, ["ingest", str(DATA / "nope.ndjson"), *ws])
    assert missing.exit_code == 4


@pytest.mark.slow
def test_throughput_on_generated_file(tmp_path: Path) -> None:
    n = 20_000
    path = tmp_path / "Encounter.000.ndjson"
    start, end = "2025-01-06T10:00:00Z", "2025-01-06T12:30:00Z"
    write_ndjson(
        path,
        (
            stay(f"enc-{i}", f"p-{i % 997}", start, end, cls="EMER")
            | {
                "location": [
                    {
                        "location": {"reference": "Location/ed-wait"},
                        "period": {"start": start, "end": "2025-01-06T10:30:00Z"},
                    },
                    {
                        "location": {"reference": f"Location/ed-{i % 20}"},
                        "period": {"start": "2025-01-06T10:30:00Z", "end": end},
                    },
                ]
            }
            for i in range(n)
        ),
    )
    started = time.perf_counter()
    report = ingest_paths(tmp_path / "lake", [path])
    wall = time.perf_counter() - started
    print(f"generated: {n} encounters in {wall:.2f}s = {report.resources_per_second:,.0f}/s")
    assert report.counts["Encounter"].added == n
    assert report.tables["movements"] == 2 * n
    rerun = ingest_paths(tmp_path / "lake", [path])
    print(f"re-ingest: {rerun.resources_per_second:,.0f}/s")
    assert rerun.no_change
