"""Versions and deletes: (type, id, version) dedupe, latest version wins, tombstones, catalog."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from caretwin.ingest import ingest_paths
from caretwin.lake import Lake


def _patient(pid: str, gender: str, version: str | None = None, updated: str | None = None) -> Any:
    res: dict[str, Any] = {"resourceType": "Patient", "id": pid, "gender": gender}
    meta = {k: v for k, v in (("versionId", version), ("lastUpdated", updated)) if v}
    if meta:
        res["meta"] = meta
    return res


def _write(path: Path, *docs: Any) -> Path:
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return path


def _genders(lake: Lake) -> dict[str, str]:
    rows = lake.query("SELECT patient_id, gender FROM patients").to_pylist()
    return {r["patient_id"]: r["gender"] for r in rows}


def test_latest_version_wins_whatever_the_ingest_order(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    ingest_paths(lake_dir, [_write(tmp_path / "v2.ndjson", _patient("p1", "female", "2"))])
    older = ingest_paths(lake_dir, [_write(tmp_path / "v1.ndjson", _patient("p1", "male", "1"))])
    lake = Lake(lake_dir)
    assert _genders(lake) == {"p1": "female"}  # version 1 arrived later but is older
    assert older.counts["Patient"].added == 1 and older.counts["Patient"].updated == 1
    assert lake.counts()["resources"] == 2  # both versions kept for lineage
    # lastUpdated orders versions without versionId; ties fall back to ingest order
    _write(tmp_path / "a.ndjson", _patient("p2", "male", updated="2025-02-01T00:00:00Z"))
    _write(tmp_path / "b.ndjson", _patient("p2", "female", updated="2025-01-01T00:00:00Z"))
    ingest_paths(lake_dir, [tmp_path / "a.ndjson", tmp_path / "b.ndjson"])
    assert _genders(lake)["p2"] == "male"


def test_same_version_other_content_is_quarantined_not_dropped_silently(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    ingest_paths(lake_dir, [_write(tmp_path / "a.ndjson", _patient("p1", "female", "1"))])
    report = ingest_paths(lake_dir, [_write(tmp_path / "b.ndjson", _patient("p1", "male", "1"))])
    assert report.no_change and report.quarantined == 1
    reason = Lake(lake_dir).query("SELECT reason FROM quarantine")["reason"][0].as_py()
    assert reason == "Patient/p1 version 1 is already known with other content"


def test_transaction_and_history_deletes_remove_rows_and_keep_tombstones(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    enc = {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "IMP"},
           "location": [{"location": {"reference": "Location/l1"}}]}  # fmt: skip
    first = ingest_paths(
        lake_dir,
        [_write(tmp_path / "a.ndjson", _patient("p1", "female", "1"), _patient("p2", "male"), enc)],
    )
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Patient/p1"}},
        {"request": {"method": "DELETE", "url": "Encounter/e1"}}]}  # fmt: skip
    report = ingest_paths(lake_dir, [_write(tmp_path / "tx.ndjson", tx)])
    lake = Lake(lake_dir)
    assert _genders(lake) == {"p2": "male"}
    assert lake.counts()["encounters"] == 0 and lake.counts()["movements"] == 0
    assert report.counts["Patient"].deleted == 1 and report.counts["Encounter"].deleted == 1
    tomb = lake.query("SELECT resource_id, version_id, deleted FROM resources WHERE deleted")
    assert sorted(tomb["resource_id"].to_pylist()) == ["e1", "p1"]
    assert "2" in tomb["version_id"].to_pylist()  # the delete is the version after 1
    # re-ingesting the delete changes nothing; the catalog records each snapshot's counts
    assert ingest_paths(lake_dir, [tmp_path / "tx.ndjson"]).no_change
    snaps = lake.catalog().snapshots
    assert [s.snapshot_id for s in snaps] == [first.snapshot_id, report.snapshot_id]
    assert snaps[1].counts["Patient"].deleted == 1 and snaps[0].counts["Patient"].added == 2
    assert snaps[1].source.endswith("tx.ndjson")
    # a history bundle: a newer version brings p1 back, then a deleted entry removes p2
    history = {"resourceType": "Bundle", "type": "history", "entry": [
        {"resource": _patient("p1", "other", "3"),
         "request": {"method": "PUT", "url": "Patient/p1"}},
        {"request": {"method": "DELETE", "url": "Patient/p2/_history/2"},
         "response": {"status": "204", "lastModified": "2025-03-01T00:00:00Z"}}]}  # fmt: skip
    ingest_paths(lake_dir, [_write(tmp_path / "h.ndjson", history)])
    assert _genders(lake) == {"p1": "other"}


def test_workspace_view_override_changes_the_table_without_code(tmp_path: Path) -> None:
    """A ViewDefinition in <workspace>/views/ replaces the shipped one during ingest."""
    views = tmp_path / "views"
    views.mkdir()
    doc = orjson.loads(
        (resources.files("caretwin.views") / "definitions" / "patients.json").read_bytes()
    )
    doc["constant"] = [{"name": "mrn_system", "valueUri": "urn:oid:1.2.3"}]
    (views / "patients.json").write_bytes(orjson.dumps(doc))
    pat = _patient("p1", "female")
    pat["identifier"] = [{"system": "urn:oid:1.2.3", "value": "SITE-7"}]
    ingest_paths(tmp_path / "lake", [_write(tmp_path / "p.ndjson", pat)])
    mrn = Lake(tmp_path / "lake").query("SELECT mrn FROM patients")["mrn"].to_pylist()
    assert mrn == ["SITE-7"]
