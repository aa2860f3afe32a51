"""Validation: every quarantine reason, valid records beside invalid ones, work-order CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from caretwin.fhir.dates import DateFormatError, parse_date, parse_datetime
from caretwin.ingest import ingest_paths
from caretwin.lake import Lake

DATA = Path(__file__).parent / "data" / "fhir"

EXPECTED_QUARANTINE = [
    (2, None, "invalid JSON"),
    (3, None, "resourceType is missing"),
    (4, None, "unknown resourceType 'Spaceship'"),
    (5, "Patient", "Patient.id is required"),
    (7, "Encounter", "Encounter.status is required"),
    (8, "Encounter", "Encounter.class is required"),
    (9, "Procedure", "Procedure.subject is required"),
    (10, "Procedure", "Procedure.status is required"),
    (11, "Encounter", "Encounter.period.start: not a FHIR dateTime"),
    (12, "Encounter", "Encounter.period end is before start"),
    (13, "Encounter", "Encounter.location[0].period end is before start"),
    (14, "Patient", "Patient.birthDate: invalid date (a field is out of range)"),
    (15, None, "not a JSON object"),
    (18, "ServiceRequest", "ServiceRequest.subject is required"),
]


def test_each_reason_and_valid_records_still_land(tmp_path: Path) -> None:
    report = ingest_paths(tmp_path, [DATA / "mixed.ndjson"])
    lake = Lake(tmp_path)
    q = lake.query("SELECT line, resource_type, reason, excerpt FROM quarantine ORDER BY line")
    got = [(r["line"], r["resource_type"], r["reason"]) for r in q.to_pylist()]
    assert len(got) == len(EXPECTED_QUARANTINE)
    for (line, rtype, reason), want in zip(got, EXPECTED_QUARANTINE, strict=True):
        assert (line, rtype) == want[:2]
        assert reason.startswith(want[2]), (reason, want)
    assert all(e for e in q["excerpt"].to_pylist())  # the excerpt is kept in the lake
    assert report.quarantined == len(EXPECTED_QUARANTINE) == report.quarantine_rows_added
    assert report.counts["Patient"].added == 1 and report.counts["Condition"].added == 1
    enc = lake.query("SELECT encounter_id, start FROM encounters").to_pylist()
    assert [e["encounter_id"] for e in enc] == ["e-ok"]
    assert enc[0]["start"].isoformat() == "2025-01-06T09:00:00+00:00"
    births = lake.query("SELECT birth_date FROM patients")["birth_date"].to_pylist()
    assert [b.isoformat() for b in births] == ["1975-01-01"]

    again = ingest_paths(tmp_path, [DATA / "mixed.ndjson"])
    assert again.quarantined == len(EXPECTED_QUARANTINE)
    assert again.quarantine_rows_added == 0 and again.no_change
    assert lake.counts()["quarantine"] == len(EXPECTED_QUARANTINE)


def test_misfiled_resource_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "Patient.000.ndjson"
    path.write_text('{"resourceType":"Encounter","id":"e1","status":"x","class":{"code":"A"}}\n')
    report = ingest_paths(tmp_path / "lake", [path])
    q = Lake(tmp_path / "lake").query("SELECT reason FROM quarantine")
    assert q["reason"].to_pylist() == ["resourceType Encounter in a Patient file"]
    assert report.counts["Encounter"].quarantined == 1


def test_work_orders_csv(tmp_path: Path) -> None:
    report = ingest_paths(tmp_path, [DATA / "workorders.csv"])
    assert report.counts["WorkOrder"].added == 2
    assert report.counts["WorkOrder"].quarantined == 3
    lake = Lake(tmp_path)
    rows = lake.query("SELECT * FROM work_orders ORDER BY work_order_id").to_pylist()
    assert [r["work_order_id"] for r in rows] == ["WO-1", "WO-2"]
    assert rows[1]["device_id"] == "dev-ct2" and rows[1]["repair_end"] is None
    assert (rows[0]["repair_end"] - rows[0]["repair_start"]).total_seconds() == (5 * 60 + 40) * 60
    q = lake.query("SELECT line, reason FROM quarantine ORDER BY line").to_pylist()
    assert q == [
        {"line": 4, "reason": "failure_reported is required"},
        {"line": 5, "reason": "repair_end is before repair_start"},
        {"line": 6, "reason": "work_order_id is required"},
    ]
    raw = lake.query("SELECT count(*) n FROM resources WHERE resource_type = 'WorkOrder'")
    assert raw["n"][0].as_py() == 2


def test_csv_without_work_order_header_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    report = ingest_paths(tmp_path / "lake", [path])
    assert report.quarantined == 1 and report.no_change


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2025-01-06T10:00:00-04:00", "2025-01-06T14:00:00+00:00"),
        ("2025-01-06T10:00:00.1234567Z", "2025-01-06T10:00:00.123456+00:00"),
        ("2025-01-06T10:00:00", "2025-01-06T10:00:00+00:00"),
        ("2025-01", "2025-01-01T00:00:00+00:00"),
        ("2024-02-29T23:59:59Z", "2024-02-29T23:59:59+00:00"),  # the regex-free common shape
    ],
)
def test_datetimes_convert_to_utc(text: str, iso: str) -> None:
    assert parse_datetime(text).isoformat() == iso


@pytest.mark.parametrize(
    "text",
    ["20250106", "2025-1-6", "2025-01-06T25:00:00Z", "", 2025,
     "2025-W02-1T10:00:00Z", "2025-02-29T10:00:00Z", "2025-01-06T10:00:6xZ"],
)  # fmt: skip
def test_bad_datetimes(text: object) -> None:
    with pytest.raises(DateFormatError):
        parse_datetime(text)


def test_dates() -> None:
    assert parse_date("1980-02-29").isoformat() == "1980-02-29"
    with pytest.raises(DateFormatError):
        parse_date("1980-02-29T00:00:00Z")
