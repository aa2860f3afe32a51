"""Sources and pulls through the API: add (without credentials), change, remove; pulls on
record, paginated across sources."""

from __future__ import annotations

from datetime import timedelta

from tests.api_helpers import bearer, client, token_for

from caretwin.connectors import records
from caretwin.store.models import utcnow
from caretwin.store.sources import Pull
from caretwin.workspace import Workspace


def test_sources_are_added_changed_and_removed_without_credentials(workspace: Workspace) -> None:
    c = client(workspace)
    eng = bearer(token_for(workspace, "data_engineer"))
    q = bearer(token_for(workspace, "quality"))
    body = {"name": "ehr", "base_url": "http://127.0.0.1:9/fhir/"}
    assert c.post("/api/v1/sources", json=body, headers=q).status_code == 403
    r = c.post("/api/v1/sources", json=body, headers=eng)
    assert r.status_code == 201, r.text
    assert r.json()["source"]["base_url"] == "http://127.0.0.1:9/fhir"
    assert c.post("/api/v1/sources", json=body, headers=eng).status_code == 400  # exists
    # a request cannot make the server send one of its secrets anywhere
    secret = {**body, "name": "x", "auth": {"mode": "bearer", "token_file": "/etc/shadow"}}
    refused = c.post("/api/v1/sources", json=secret, headers=eng)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    bad = c.post("/api/v1/sources", json={"name": "y", "base_url": "ftp://x"}, headers=eng)
    assert bad.status_code == 400 and "http" in bad.json()["error"]["message"]
    moved = c.patch("/api/v1/sources/ehr", json={"base_url": "https://ehr.example/r4"}, headers=eng)
    assert moved.status_code == 200 and moved.json()["source"]["base_url"].startswith("https://")
    assert c.get("/api/v1/sources/ehr", headers=q).json()["source"]["name"] == "ehr"
    assert c.delete("/api/v1/sources/ehr", headers=eng).json() == {"removed": "ehr"}
    assert c.get("/api/v1/sources", headers=q).json()["items"] == []


def test_pulls_are_listed_newest_first_by_cursor_and_shown(workspace: Workspace) -> None:
    for i in range(5):
        source = "a" if i % 2 else "b"
        records.create_pull(workspace, f"pull-{i}", source, "rest", "x", f"/tmp/p{i}", {})
    with workspace.session() as s:  # distinct start times, oldest first
        for i in range(5):
            row = s.get(Pull, f"pull-{i}")
            assert row is not None
            row.started_at = utcnow() - timedelta(minutes=10 - i)
    c = client(workspace)
    q = bearer(token_for(workspace, "quality"))
    first = c.get("/api/v1/pulls", params={"limit": 2}, headers=q).json()
    assert [p["pull_id"] for p in first["items"]] == ["pull-4", "pull-3"]
    rest = c.get(
        "/api/v1/pulls", params={"limit": 10, "cursor": first["next_cursor"]}, headers=q
    ).json()
    assert [p["pull_id"] for p in rest["items"]] == ["pull-2", "pull-1", "pull-0"]
    assert rest["next_cursor"] is None
    only_a = c.get("/api/v1/pulls", params={"source": "a"}, headers=q).json()["items"]
    assert {p["source"] for p in only_a} == {"a"} and len(only_a) == 2
    one = c.get("/api/v1/pulls/pull-3", headers=q).json()
    assert one["status"] == "running" and one["fetched"] == 0
    assert c.get("/api/v1/pulls/nope", headers=q).status_code == 400
    assert c.get("/api/v1/pulls", headers=bearer(token_for(workspace, "viewer"))).status_code == 403
