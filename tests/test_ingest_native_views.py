"""Views run natively in the parse workers give the tables the compiled SQL gives.

Ingestion evaluates the canonical ViewDefinitions on each parsed resource in the parse workers
(caretwin.views.native) and keeps, at commit, the rows of resources that became current. The
compiled DuckDB path (``CARETWIN_INGEST_NATIVE_VIEWS=0``) must produce the same lake, and a view
error must quarantine a record only when the record would reach a table.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from tests.shared import shared_path

from caretwin.ingest import ingest_paths
from caretwin.ingest.parse import Chunk, parse_chunk
from caretwin.ingest.tables import native_views
from caretwin.lake import TABLES, Lake
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.synth import generate
from caretwin.views.catalog import shipped_views

ENV = "CARETWIN_INGEST_NATIVE_VIEWS"


def _tables(lake_dir: Path) -> dict[str, list[dict[str, object]]]:
    lake = Lake(lake_dir)
    return {t: lake.read_table(t).to_pylist() for t in TABLES if t != "resources"}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.slow
def test_native_and_compiled_views_build_the_same_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    data = tmp_path / "data"
    generate(load_definition(example_path(REFERENCE_HOSPITAL)), 7, 21, data)
    inputs = [data, shared_path("data", "synthea-10-patients")]
    native = ingest_paths(tmp_path / "native", inputs, workers=workers)
    monkeypatch.setenv(ENV, "0")
    compiled = ingest_paths(tmp_path / "compiled", inputs, workers=workers)
    assert native.data_hash == compiled.data_hash  # the raw layer
    got, want = _tables(tmp_path / "native"), _tables(tmp_path / "compiled")
    for table in want:
        assert got[table] == want[table], table
    assert len(got["movements"]) > len(got["encounters"]) > 100


def test_parse_workers_spool_view_rows(tmp_path: Path) -> None:
    """The parse step itself writes the rows of the views of each resource's type."""
    views = native_views({n: shipped_views()[n].view for n in ("encounters", "movements")})
    encounter = {
        "resourceType": "Encounter", "id": "e1", "status": "finished",
        "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"},
        "location": [
            {"location": {"reference": "Location/w1"}, "period": {"start": "2025-01-01T00:00:00Z"}},
            {"location": {"reference": "http://x/fhir/Location/w2/_history/3"}},
        ],
    }  # fmt: skip
    data = orjson.dumps(encounter) + b"\n" + orjson.dumps({**encounter, "id": "e2"})
    out = str(tmp_path / "spool.parquet")
    parsed = parse_chunk(Chunk("e.ndjson", 1, data, index=3, out=out, views=views))
    assert set(parsed.view_files) == {"encounters", "movements"} and not parsed.view_errors
    movements = pq.read_table(parsed.view_files["movements"]).to_pylist()
    assert [(m["encounter_id"], m["seq"], m["location_id"]) for m in movements] == [
        ("e1", 0, "w1"), ("e1", 1, "w2"), ("e2", 0, "w1"), ("e2", 1, "w2")
    ]  # fmt: skip
    assert [m["ord"] for m in movements] == [3 << 32, 3 << 32, (3 << 32) + 1, (3 << 32) + 1]
    assert movements[0]["start"] == "2025-01-01T00:00:00Z" and movements[1]["start"] is None


def _override_mrn_without_first(root: Path) -> None:
    """A site view whose ``mrn`` column yields every identifier value (no ``first()``)."""
    shipped = shipped_views()["patients"].view.raw
    select = [
        {"column": [{"name": "patient_id", "path": "getResourceKey()", "type": "id"},
                    {"name": "gender", "path": "gender", "type": "code"},
                    {"name": "birth_date", "path": "birthDate", "type": "date"},
                    {"name": "mrn", "path": "identifier.value", "type": "string"}]}
    ]  # fmt: skip
    (root / "views").mkdir()
    (root / "views" / "patients.json").write_bytes(orjson.dumps({**shipped, "select": select}))


def _patient(pid: str, version: str, values: list[str]) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"versionId": version},
        "gender": "female",
        "identifier": [{"system": "urn:caretwin:mrn", "value": v} for v in values],
    }


@pytest.mark.parametrize("native", ["1", "0"])
def test_view_error_quarantines_only_current_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: str
) -> None:
    """A record that passes the checks but fails a view is quarantined (file, line, reason);
    the rest of its batch lands. A superseded version the view fails on never reaches a table,
    so it lands in raw; a failing current version is quarantined and the version before it
    becomes current."""
    monkeypatch.setenv(ENV, native)
    root = tmp_path / "ws"
    root.mkdir()
    _override_mrn_without_first(root)
    lake_dir = root / "lake"
    superseded = tmp_path / "superseded.ndjson"  # version 1 has two MRNs, version 2 one
    superseded.write_bytes(
        orjson.dumps(_patient("p1", "1", ["A", "B"]))
        + b"\n"
        + orjson.dumps(_patient("p1", "2", ["C"]))
    )
    report = ingest_paths(lake_dir, [superseded])
    assert report.quarantined == 0
    assert Lake(lake_dir).read_table("patients")["mrn"].to_pylist() == ["C"]

    current = tmp_path / "current.ndjson"
    current.write_bytes(
        orjson.dumps(_patient("p2", "1", ["D", "E"]))  # the only version of p2 fails
        + b"\n"
        + orjson.dumps(_patient("p3", "1", ["F"]))
        + b"\n"
        + orjson.dumps(_patient("p3", "2", ["G", "H"]))  # p3's newest fails: version 1 stays
        + b"\n"
        + orjson.dumps(_patient("p4", "1", ["I"]))
    )
    report = ingest_paths(lake_dir, [current])
    assert report.quarantined == 2 and report.counts["Patient"].added == 2
    lake = Lake(lake_dir)
    rows = lake.query("SELECT patient_id, mrn FROM patients ORDER BY patient_id").to_pylist()
    assert [(r["patient_id"], r["mrn"]) for r in rows] == [("p1", "C"), ("p3", "F"), ("p4", "I")]
    q = lake.query("SELECT source_file, line, resource_type, reason FROM quarantine ORDER BY line")
    got = q.to_pylist()
    assert [(Path(r["source_file"]).name, r["line"], r["resource_type"]) for r in got] == [
        ("current.ndjson", 1, "Patient"), ("current.ndjson", 3, "Patient")
    ]  # fmt: skip
    assert all(
        r["reason"].startswith("view patients: column 'mrn'") and "several values" in r["reason"]
        for r in got
    ), got
    raw = lake.query("SELECT resource_id, version FROM resources ORDER BY ALL").to_pylist()
    assert [(r["resource_id"], r["version"]) for r in raw] == [
        ("p1", "1"), ("p1", "2"), ("p3", "1"), ("p4", "1")
    ]  # fmt: skip
