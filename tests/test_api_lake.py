"""The lake through the API: quarantine pages and retry, snapshot quality, view runs (audited as
reads of patient-level data, never their values) and HL7 parsing (stored nowhere)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.api_helpers import bearer, client, token_for
from tests.hl7_helpers import DATA
from tests.lake_helpers import small_lake

from caretwin.audit import AuditLog
from caretwin.audit.log import PATIENT_DATA
from caretwin.workspace import Workspace


@pytest.fixture(scope="module")
def lake_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One small lake for the module (the tests below leave it as they found it)."""
    tmp = tmp_path_factory.mktemp("lake")
    ws = Workspace.init(tmp / "ws")
    small_lake(ws, tmp)
    yield ws
    ws.close()


_TOKENS: dict[tuple[str, str], dict[str, str]] = {}


def _as(ws: Workspace, role: str) -> dict[str, str]:
    key = (str(ws.root), role)
    if key not in _TOKENS:
        _TOKENS[key] = bearer(token_for(ws, role))
    return _TOKENS[key]


def test_quarantine_pages_by_cursor_without_repeats_and_retry_selects_by_id(
    lake_ws: Workspace,
) -> None:
    c = client(lake_ws)
    data = _as(lake_ws, "data_engineer")
    quality = _as(lake_ws, "quality")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        body = c.get("/api/v1/lake/quarantine", params=params, headers=quality).json()
        seen += [r["id"] for r in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and len(seen) == 3 == len(set(seen))
    row = c.get("/api/v1/lake/quarantine", headers=quality).json()["items"][0]
    assert set(row) == {"id", "snapshot_id", "source_file", "line", "resource_type", "reason"}
    bad = c.get("/api/v1/lake/quarantine", params={"cursor": "!!"}, headers=quality)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "config_error"
    # quality reads data but brings none in
    r = c.post("/api/v1/lake/quarantine/retry", json={"ids": [seen[0]]}, headers=quality)
    assert r.status_code == 403
    r = c.post("/api/v1/lake/quarantine/retry", json={"ids": [seen[0], "nope"]}, headers=data)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["selected"] == 1 and out["unknown_ids"] == ["nope"]
    assert out["still_quarantined"] + out["cleared"] == 1  # the record is still broken
    nothing = c.post("/api/v1/lake/quarantine/retry", json={}, headers=data)
    assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "data_error"


def test_snapshot_quality_is_a_recorded_run_and_tables_count(lake_ws: Workspace) -> None:
    c = client(lake_ws)
    q = _as(lake_ws, "quality")
    latest = c.get("/api/v1/snapshots/latest/quality", headers=q)
    assert latest.status_code == 200, latest.text
    body = latest.json()
    assert body["run_id"].startswith("quality-") and "findings" in body["report"]
    snaps = c.get("/api/v1/snapshots", headers=q).json()["items"]
    first = snaps[-1]["snapshot_id"]
    by_ref = c.get(f"/api/v1/snapshots/{first[:12]}/quality", headers=q).json()
    assert by_ref["report"]["snapshot_id"] == first
    viewer = _as(lake_ws, "viewer")
    assert c.get("/api/v1/snapshots/latest/quality", headers=viewer).status_code == 403
    tables = c.get("/api/v1/lake/tables", headers=q).json()["tables"]
    assert tables["encounters"] > 0 and tables["quarantine"] == 3


def test_a_view_run_answers_rows_and_is_audited_as_patient_level_without_values(
    lake_ws: Workspace,
) -> None:
    c = client(lake_ws)
    q = _as(lake_ws, "quality")
    r = c.post("/api/v1/views/patients/run", json={"limit": 5}, headers=q)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["rows"]) == 5 and "patient_id" in body["columns"]
    assert body["summary"]["rows"] == 5
    event = AuditLog(lake_ws).list(limit=5, action="views.run")[0]
    assert event.details[PATIENT_DATA] is True and event.details["rows"] == 5
    assert body["rows"][0]["patient_id"] not in str(event.details)  # counts, never values
    too_many = c.post("/api/v1/views/patients/run", json={"limit": 5000}, headers=q)
    assert too_many.status_code == 422
    clinician = _as(lake_ws, "clinician")
    assert c.post("/api/v1/views/patients/run", json={}, headers=clinician).status_code == 403


def test_hl7_parse_answers_each_message_and_its_ack_and_stores_nothing(
    workspace: Workspace,
) -> None:
    c = client(workspace)
    data = bearer(token_for(workspace, "data_engineer"))
    before = c.get("/api/v1/lake/tables", headers=data).json()["data_hash"]
    good = (DATA / "adt-stay-mllp.hl7").read_bytes()
    r = c.post("/api/v1/hl7/parse", content=good, headers={**data, "content-type": "text/plain"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["messages"] and len(body["acks"]) == len(body["messages"])
    assert all(m["valid"] for m in body["messages"])
    assert all("MSA|AA|" in ack for ack in body["acks"])
    assert "Testpatient" not in r.text and "MRN2002" not in r.text  # names, MRNs: PHI
    bad = c.post("/api/v1/hl7/parse", content=(DATA / "adt-invalid.hl7").read_bytes(), headers=data)
    refused = [m for m in bad.json()["messages"] if not m["valid"]]
    assert refused and all(m["reason"] for m in refused)
    assert any("MSA|AR|" in a or "MSA|AE|" in a for a in bad.json()["acks"])
    assert c.get("/api/v1/lake/tables", headers=data).json()["data_hash"] == before
    event = AuditLog(workspace).list(limit=5, action="data.hl7_parse")[0]
    assert event.target == f"text:{len((DATA / 'adt-invalid.hl7').read_bytes())}b"
    assert event.details[PATIENT_DATA] is True
