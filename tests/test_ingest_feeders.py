"""A new input format is a new feeder: the pipeline hands it the batch, and its after-stage step
the staged rows; the stage's DuckDB connection is closed whatever happens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from caretwin.errors import DataError
from caretwin.ingest import ingest_paths
from caretwin.ingest.batch import AfterStage, IngestBatch, StagedRows
from caretwin.lake import Lake
from caretwin.plugins import FeederSpec, hookimpl, registry
from caretwin.plugins.manager import PluginInfo, discover, reset

SEEN: dict[str, Any] = {}


def _feed_beds(batch: IngestBatch, paths: list[Path]) -> AfterStage:
    """``ward;bed`` lines: one location row per bed, a line without ``;`` refused."""
    for path in paths:
        batch.read_whole(path)
        for n, line in enumerate(path.read_text().splitlines(), 1):
            batch.add_records(1)
            ward, sep, bed = line.partition(";")
            if not sep:
                batch.quarantine(path.as_posix(), n, "Location", "no ';' in the line", "")
                continue
            row = {"location_id": bed, "identifier": None, "name": bed,
                   "physical_type": "bd", "part_of": ward, "status": "active"}  # fmt: skip
            batch.add_rows("locations", bed, [row])

    def after(staged: StagedRows) -> None:
        SEEN["patients"] = sorted(staged.rows("patients"))
        SEEN["con"] = getattr(staged, "con", None)
        if SEEN.get("fail"):
            raise DataError("the beds feeder gave up")

    return after


@hookimpl
def register_feeders() -> list[FeederSpec]:
    return [FeederSpec("beds", "bed lists", suffixes=(".beds",), feed=_feed_beds, order=20)]


@pytest.fixture
def beds_feeder() -> Iterator[None]:
    # this module as an installed plugin: discovered (as from its entry point), then loaded
    reset()
    discover().append(PluginInfo("test-beds", __name__, "tests", "0"))
    assert "beds" in [f.spec.name for f in registry.feeders()]
    SEEN.clear()
    try:
        yield
    finally:
        reset()


def _inputs(tmp_path: Path) -> list[Path]:
    beds = tmp_path / "in" / "ward.beds"
    beds.parent.mkdir()
    beds.write_text("W1;B1\nbroken\nW1;B2\n")
    patients = tmp_path / "in" / "Patient.ndjson"
    patients.write_bytes(
        b"".join(
            orjson.dumps({"resourceType": "Patient", "id": pid, "gender": "female"}) + b"\n"
            for pid in ("p1", "p2")
        )
    )
    return [beds, patients]


def test_a_new_format_is_a_feeder_writing_through_the_batch(
    tmp_path: Path, beds_feeder: None
) -> None:
    report = ingest_paths(tmp_path / "lake", _inputs(tmp_path), views_root=tmp_path)
    lake = Lake(tmp_path / "lake")
    beds = lake.query("SELECT location_id, part_of FROM locations ORDER BY 1")
    assert beds.to_pylist() == [
        {"location_id": "B1", "part_of": "W1"},
        {"location_id": "B2", "part_of": "W1"},
    ]
    refused = lake.read_table("quarantine").to_pylist()
    assert [(Path(r["source_file"]).name, r["line"], r["reason"]) for r in refused] == [
        ("ward.beds", 2, "no ';' in the line")
    ]
    assert report.records == 5 and report.quarantined == 1
    # the after-stage step saw this ingest's FHIR rows, staged by the time it ran
    assert SEEN["patients"] == ["p1", "p2"]


def test_a_failing_after_stage_step_leaves_the_lake_and_closes_duckdb(
    tmp_path: Path, beds_feeder: None
) -> None:
    SEEN["fail"] = True
    with pytest.raises(DataError, match="gave up"):
        ingest_paths(tmp_path / "lake", _inputs(tmp_path), views_root=tmp_path)
    assert Lake(tmp_path / "lake").counts()["patients"] == 0
    assert isinstance(SEEN["con"], duckdb.DuckDBPyConnection)
    with pytest.raises(duckdb.ConnectionException):
        SEEN["con"].execute("SELECT 1")
