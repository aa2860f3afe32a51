"""Bundles: urn:uuid resolution, the expected normalized rows, bundle types and odd entries."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from caretwin.ingest import ingest_paths
from caretwin.lake import Lake

DATA = Path(__file__).parent / "data" / "fhir"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _rows(lake: Lake, table: str) -> list[dict[str, Any]]:
    rows = lake.query(f'SELECT * FROM "{table}"').to_pylist()
    return [{k: _plain(v) for k, v in r.items()} for r in rows]


def test_transaction_bundle_matches_expected_rows(tmp_path: Path) -> None:
    report = ingest_paths(tmp_path, [DATA / "bundle_transaction.json"])
    assert report.quarantined == 0
    assert report.added == 8
    lake = Lake(tmp_path)
    expected = orjson.loads((DATA / "bundle_transaction.expected.json").read_bytes())
    for table, rows in expected.items():
        assert _rows(lake, table) == rows, table
    raw = lake.query("SELECT resource_id, line FROM resources WHERE resource_type = 'Patient'")
    # the create without an id takes its urn:uuid fullUrl's uuid
    assert raw.to_pylist() == [{"resource_id": "6f1c2a9e-0000-4000-8000-000000000001", "line": 1}]


def test_location_identifier_reference_resolves_when_location_arrives_later(
    tmp_path: Path,
) -> None:
    ingest_paths(tmp_path, [DATA / "bundle_transaction.json"])
    ingest_paths(tmp_path, [DATA / "locations_later.ndjson"])
    moves = Lake(tmp_path).query(
        "SELECT location_id FROM movements WHERE encounter_id = 'enc-ed-1' ORDER BY seq"
    )
    assert moves["location_id"].to_pylist() == ["loc-ed-wait", "loc-ed-01"]


def _bundle(btype: str, entries: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "type": btype, "entry": entries})


def test_searchset_and_collection_in_ndjson_lines(tmp_path: Path) -> None:
    pat = {"resourceType": "Patient", "id": "p1"}
    enc = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "http://example.org/fhir/Patient/p1"},
    }
    lines = [
        _bundle("searchset", [{"fullUrl": "http://example.org/fhir/Patient/p1", "resource": pat}]),
        _bundle("collection", [{"resource": enc}]),
    ]
    path = tmp_path / "bundles.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest_paths(tmp_path / "lake", [path])
    assert report.added == 2 and report.quarantined == 0
    enc_rows = Lake(tmp_path / "lake").query("SELECT patient_id FROM encounters")
    assert enc_rows["patient_id"].to_pylist() == ["p1"]


def test_bad_bundles_and_entries_are_quarantined_with_line_and_entry(tmp_path: Path) -> None:
    good = {"resourceType": "Patient", "id": "p1"}
    lines = [
        _bundle("subscription-notification", [{"resource": good}]),
        _bundle(
            "batch",
            [
                {"resource": good},
                {"request": {"method": "PUT", "url": "Patient/p9"}},
                {"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished"}},
                {"request": {"method": "DELETE", "url": "Patient?identifier=x|1"}},
            ],
        ),
    ]
    path = tmp_path / "b.ndjson"
    path.write_bytes(b"\n".join(lines))
    report = ingest_paths(tmp_path / "lake", [path])
    assert report.counts["Patient"].added == 1
    q = Lake(tmp_path / "lake").query(
        "SELECT line, resource_type, reason FROM quarantine ORDER BY line, reason"
    )
    assert q.to_pylist() == [
        {
            "line": 1,
            "resource_type": None,
            "reason": "Bundle type 'subscription-notification' is not supported",
        },
        {
            "line": 2,
            "resource_type": None,
            "reason": "Bundle.entry[1]: no resource (request PUT is not applied)",
        },
        {
            "line": 2,
            "resource_type": "Encounter",
            "reason": "Bundle.entry[2]: Encounter.class is required",
        },
        {
            "line": 2,
            "resource_type": None,
            "reason": "Bundle.entry[3]: conditional delete is not supported",
        },
    ]
