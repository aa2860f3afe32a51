"""The data teams' pages through a TestClient: who may open them, what they show (never record
content), CSRF on their forms, quality and retry through their services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.lake_helpers import ADMIN, BROKEN, small_lake
from tests.web_helpers import add_person, session_for, signed_in, web_client

from caretwin.audit import AuditLog
from caretwin.audit.log import PATIENT_DATA
from caretwin.connectors import records
from caretwin.services.context import ServiceContext
from caretwin.services.snapshots import snapshot_list
from caretwin.workspace import Workspace

PAGES = ["/sources", "/pulls", "/pulls/pull-1", "/snapshots", "/lake", "/lake/quarantine"]


@pytest.fixture(scope="module")
def lake_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    tmp = tmp_path_factory.mktemp("weblake")
    ws = Workspace.init(tmp / "ws")
    small_lake(ws, tmp)
    records.create_pull(ws, "pull-1", "ehr", "rest", "someone", str(tmp / "staging"), {})
    add_person(ws, "dana", ["data_engineer"])
    add_person(ws, "quinn", ["quality"])
    add_person(ws, "cleo", ["clinician"])
    yield ws
    ws.close()


def _snapshots(ws: Workspace) -> list[str]:
    return [s.snapshot_id for s in snapshot_list(ServiceContext(ws, ADMIN))]


def test_data_pages_open_for_data_roles_and_are_denied_to_others(lake_ws: Workspace) -> None:
    newest, oldest = _snapshots(lake_ws)[:2]
    pages = [*PAGES, f"/snapshots/{newest}", f"/snapshots/diff?a={oldest}&b={newest}"]
    for name in ("dana", "quinn"):
        c = web_client(lake_ws)
        signed_in(c, name)
        home = c.get("/").text
        assert 'href="/snapshots"' in home and 'href="/lake"' in home
        for path in pages:
            r = c.get(path)
            assert r.status_code == 200, (name, path, r.status_code)
            assert "content-security-policy" in r.headers
    c = web_client(lake_ws)
    signed_in(c, "cleo")
    assert 'href="/snapshots"' not in c.get("/").text  # not offered either
    for path in pages:
        r = c.get(path)
        assert r.status_code == 403 and "data.read" in r.text, path
    assert web_client(lake_ws).get("/lake").status_code == 303  # to the sign-in page


def test_pages_show_ids_counts_and_reasons_never_record_content(lake_ws: Workspace) -> None:
    c = web_client(lake_ws)
    signed_in(c, "quinn")
    text = c.get("/lake/quarantine").text
    assert "Encounter.status is required" in text and "resourceType is missing" in text
    assert '"id": "x1"' not in text and "bad-1" not in text  # the records themselves
    assert 'name="ids"' not in text  # quality reads data but brings none in: no retry
    tables = c.get("/lake").text
    assert re.search(r"<td>encounters</td><td>\d+</td>", tables)
    event = AuditLog(lake_ws).list(limit=5, action="data.quarantine")[0]
    assert event.details[PATIENT_DATA] is True and event.actor == "quinn"


def test_quality_is_a_csrf_checked_form_recording_a_run(lake_ws: Workspace) -> None:
    newest = _snapshots(lake_ws)[0]
    c = web_client(lake_ws)
    csrf = signed_in(c, "quinn")
    assert c.get(f"/snapshots/{newest}/quality").status_code == 405  # no run from a link
    refused = c.post(f"/snapshots/{newest}/quality", data={})
    assert refused.status_code == 403 and "security token" in refused.text
    r = c.post(f"/snapshots/{newest}/quality", data={"csrf_token": csrf})
    assert r.status_code == 200
    run_id = re.search(r'href="/runs/(quality-[\w-]+)"', r.text)
    assert run_id is not None
    assert c.get(f"/runs/{run_id.group(1)}").status_code == 200


def test_retry_needs_data_ingest_and_a_csrf_token(lake_ws: Workspace) -> None:
    c = web_client(lake_ws)
    csrf = signed_in(c, "dana")
    page = c.get("/lake/quarantine").text
    ids = re.findall(r'name="ids" value="(\w+)"', page)
    assert len(ids) == len(BROKEN)
    assert c.post("/lake/quarantine/retry", data={"ids": ids[:1]}).status_code == 403
    r = c.post("/lake/quarantine/retry", data={"csrf_token": csrf, "ids": ids[:1]})
    assert r.status_code == 200 and "Retried 1 record" in r.text
    assert "0 left the quarantine, 1 still refused" in r.text  # still broken
    quinn = web_client(lake_ws)
    sid, token = session_for(lake_ws, ["quality"], "quinn-2")
    quinn.cookies.set("caretwin_session", sid)
    denied = quinn.post("/lake/quarantine/retry", data={"csrf_token": token, "all": "true"})
    assert denied.status_code == 403 and "data.ingest" in denied.text


def test_paging_the_quarantine_and_a_bad_page_link(lake_ws: Workspace, tmp_path: Path) -> None:
    from caretwin.web.pages import lake

    c = web_client(lake_ws)
    signed_in(c, "dana")
    page_size = lake.PAGE_SIZE
    lake.PAGE_SIZE = 2
    try:
        first = c.get("/lake/quarantine").text
        nxt = re.search(r'href="/lake/quarantine\?after=([^"]+)"', first)
        assert nxt is not None
        second = c.get(f"/lake/quarantine?after={nxt.group(1)}".replace("&amp;", "&")).text
        ids = re.findall(r'name="ids" value="(\w+)"', first + second)
        assert len(ids) == len(set(ids)) == len(BROKEN)
    finally:
        lake.PAGE_SIZE = page_size
    assert c.get("/lake/quarantine?after=nonsense").status_code == 400
