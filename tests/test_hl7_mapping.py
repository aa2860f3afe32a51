"""HL7 v2 ADT files into the lake: input/expected pairs, cancels, order, idempotence, quarantine."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from tests.hl7_helpers import DATA, lake_rows
from tests.shared import shared_path

from caretwin.hl7v2 import parse_event, split_messages
from caretwin.ingest import ingest_paths
from caretwin.lake import Lake

OWN = sorted(p.name for p in DATA.iterdir() if p.is_file())
SAMPLES = ["ADT-A01-01", "ADT-A02-01", "ADT-A03-01", "ADT-A04-01", "ADT-A08-01", "ADT-A11-01"]
SAMPLES += ["ADT-A13-01"]


def _expected(stem: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((DATA / "expected" / f"{stem}.json").read_text())
    return data


@pytest.mark.parametrize("stem", SAMPLES)
def test_shared_sample_maps_to_expected_rows(stem: str, tmp_path: Path) -> None:
    path = shared_path("data", "hl7v2-adt") / f"{stem}.hl7"
    ingest_paths(tmp_path / "lake", [path])
    assert lake_rows(tmp_path / "lake") == _expected(stem)


@pytest.mark.parametrize("name", OWN)
def test_own_fixture_maps_to_expected_rows(name: str, tmp_path: Path) -> None:
    ingest_paths(tmp_path / "lake", [DATA / name])
    assert lake_rows(tmp_path / "lake") == _expected(name.rsplit(".", 1)[0])


def _one(rows: dict[str, list[dict[str, object]]], table: str) -> dict[str, object]:
    assert len(rows[table]) == 1, rows[table]
    return rows[table][0]


def test_a11_cancel_admit_leaves_a_cancelled_encounter_without_movements(tmp_path: Path) -> None:
    ingest_paths(tmp_path / "lake", [DATA / "adt-a11-cancel-admit.txt"])
    rows = lake_rows(tmp_path / "lake")
    assert _one(rows, "encounters")["status"] == "cancelled"
    assert rows["movements"] == []


def test_a12_cancel_transfer_reopens_the_previous_location(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    messages = split_messages((DATA / "adt-a12-cancel-transfer.hl7").read_bytes().decode(), "x")
    assert [parse_event(m.text).trigger for m in messages] == ["A01", "A02", "A12"]
    # Without the A12: two movements, ICU closed at the transfer time, MED open.
    first_two = tmp_path / "a01-a02.hl7"
    first_two.write_text("\r\r".join(m.text for m in messages[:2]))
    ingest_paths(lake, [first_two])
    moves = lake_rows(lake)["movements"]
    assert [(m["status"], m["end"]) for m in moves] == [
        ("completed", "2025-01-07T09:55:00Z"),
        ("active", None),
    ]
    # The A12 in a later ingest removes the MED movement and reopens ICU.
    ingest_paths(lake, [DATA / "adt-a12-cancel-transfer.hl7"])
    move = _one(lake_rows(lake), "movements")
    assert (move["status"], move["end"], move["location_id"]) == (
        "active",
        None,
        moves[0]["location_id"],
    )


def test_a13_cancel_discharge_reopens_then_a03_closes_again(tmp_path: Path) -> None:
    path = DATA / "adt-stay-mllp.hl7"
    messages = split_messages(path.read_bytes().decode(), "x")
    upto_a13 = tmp_path / "upto-a13.hl7"
    upto_a13.write_text("\r\r".join(m.text for m in messages[:5]))
    ingest_paths(tmp_path / "lake", [upto_a13])
    rows = lake_rows(tmp_path / "lake")
    enc = _one(rows, "encounters")
    assert (enc["status"], enc["end"], enc["discharge_disposition"]) == ("in-progress", None, None)
    assert [m["status"] for m in rows["movements"]] == ["completed", "completed", "active"]
    assert rows["movements"][-1]["end"] is None


def test_reingest_changes_nothing(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    folder = tmp_path / "in"
    shutil.copytree(DATA, folder, ignore=shutil.ignore_patterns("expected"))
    first = ingest_paths(lake_dir, [folder])
    before = (Lake(lake_dir).data_hash(), lake_rows(lake_dir))
    again = ingest_paths(lake_dir, [folder])
    assert first.added > 0 and again.no_change and again.quarantine_rows_added == 0
    assert (Lake(lake_dir).data_hash(), lake_rows(lake_dir)) == before


def test_same_control_id_is_a_retransmission(tmp_path: Path) -> None:
    text = (DATA / "adt-out-of-order.hl7").read_text()
    resent = tmp_path / "resent.hl7"
    # The same messages with another MSH-7 (an interface engine resending): same MSH-10.
    resent.write_text(text.replace("|RH1|20250125170000+0000|", "|RH1|20250125170500+0000|"))
    ingest_paths(tmp_path / "lake", [DATA / "adt-out-of-order.hl7"])
    report = ingest_paths(tmp_path / "lake", [resent])
    assert report.no_change
    assert sum(c.unchanged for c in report.counts.values()) == 2


def test_raw_messages_are_stored_for_lineage(tmp_path: Path) -> None:
    ingest_paths(tmp_path / "lake", [DATA / "adt-a12-cancel-transfer.hl7"])
    raw = Lake(tmp_path / "lake").query(
        "SELECT resource_type, resource_id, line, content_hash FROM resources ORDER BY line"
    )
    assert raw["resource_type"].to_pylist() == ["HL7v2:ADT^A01", "HL7v2:ADT^A02", "HL7v2:ADT^A12"]
    assert raw["resource_id"].to_pylist()[0] == "EPICADT@RIVERSIDE:RS-1001"
    assert raw["line"].to_pylist() == [1, 6, 11]
    assert all(len(h) == 64 for h in raw["content_hash"].to_pylist())


def test_fhir_and_hl7_land_in_one_snapshot(tmp_path: Path) -> None:
    fhir = tmp_path / "Location.ndjson"
    fhir.write_text('{"resourceType": "Location", "id": "ED", "status": "active"}\n')
    report = ingest_paths(tmp_path / "lake", [fhir, DATA / "adt-out-of-order.hl7"])
    assert set(report.counts) == {"Location", "HL7v2:ADT^A03", "HL7v2:ADT^A04"}
    assert report.tables["encounters"] == 1


def test_quarantine_reasons_name_fields_never_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    report = ingest_paths(tmp_path / "lake", [DATA / "adt-invalid.hl7"])
    assert report.quarantined == 10 and report.added == 2
    rows = Lake(tmp_path / "lake").read_table("quarantine").to_pylist()
    phi = ("MRN50", "Testpatient", "19700412", "Example Street")
    for row in rows:
        assert not any(p in row["reason"] or p in (row["excerpt"] or "") for p in phi)
    assert not any(p in caplog.text for p in phi)


def test_txt_files_are_read_only_when_they_look_like_hl7(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "README.txt").write_text("Notes about this extract.\n")
    shutil.copy(DATA / "adt-a11-cancel-admit.txt", folder)
    report = ingest_paths(tmp_path / "lake", [folder])
    assert [Path(f).name for f in report.files] == ["adt-a11-cancel-admit.txt"]
