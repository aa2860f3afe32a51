"""Users, roles and tokens through the API: administrators only; a token shown once; every
change audited; the last admin of a shared workspace kept."""

from __future__ import annotations

from tests.api_helpers import bearer, client, token_for

from caretwin.access import ROLES
from caretwin.audit import AuditLog
from caretwin.workspace import Workspace


def test_users_are_added_changed_and_disabled_by_an_admin_only(workspace: Workspace) -> None:
    c = client(workspace)
    admin = bearer(token_for(workspace, "admin"))
    eng = bearer(token_for(workspace, "data_engineer"))
    new = {"name": "ana", "full_name": "Ana Lyst", "roles": ["clinician"], "password": "s3cret-pw"}
    assert c.post("/api/v1/users", json=new, headers=eng).status_code == 403
    r = c.post("/api/v1/users", json=new, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["has_password"] is True and "password" not in r.json()
    assert "s3cret-pw" not in str([e.details for e in AuditLog(workspace).list(limit=20)])
    bad = c.post("/api/v1/users", json={**new, "name": "bo", "roles": ["king"]}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["details"]["unknown"] == ["king"]
    roles = c.put("/api/v1/users/ana/roles", json={"roles": ["quality", "viewer"]}, headers=admin)
    assert roles.json()["roles"] == ["quality", "viewer"]
    event = AuditLog(workspace).list(limit=5, action="users.set_roles")[0]
    assert (
        event.details["before"] == ["clinician"] and event.details["after"] == roles.json()["roles"]
    )
    named = c.put("/api/v1/users/ana/full-name", json={"full_name": "Ana B. Lyst"}, headers=admin)
    assert named.json()["full_name"] == "Ana B. Lyst"
    assert c.put("/api/v1/users/ana/password", json={"password": "n3w"}, headers=admin).is_success
    assert c.post("/api/v1/users/ana/disable", headers=admin).json()["disabled"] is True
    assert c.post("/api/v1/users/ana/enable", headers=admin).json()["disabled"] is False
    listed = c.get("/api/v1/users", headers=admin).json()
    assert "ana" in {u["name"] for u in listed["items"]} and listed["next_cursor"] is None
    policy = c.get("/api/v1/roles", headers=admin).json()
    assert [r["name"] for r in policy["items"]] == list(ROLES)
    assert "data.read" in policy["permissions"]
    assert c.get("/api/v1/roles", headers=eng).status_code == 403


def test_a_token_is_shown_once_works_and_is_revoked(workspace: Workspace) -> None:
    c = client(workspace)
    admin = bearer(token_for(workspace, "admin"))
    token_for(workspace, "viewer", name="val")
    r = c.post(
        "/api/v1/tokens",
        json={"user": "val", "expires": "1d", "scopes": ["runs.read"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert set(made) == {"token", "id", "expires"} and made["token"].startswith("ct_")
    listed = c.get("/api/v1/tokens", params={"user": "val"}, headers=admin).json()["items"]
    assert made["id"] in {t["id"] for t in listed}
    assert made["token"] not in c.get("/api/v1/tokens", headers=admin).text  # only its prefix
    mine = bearer(made["token"])
    assert c.get("/api/v1/runs", headers=mine).status_code == 200
    assert c.get("/api/v1/examples", headers=mine).status_code == 403  # scoped to runs.read
    assert c.post(f"/api/v1/tokens/{made['id']}/revoke", headers=admin).json()["revoked_at"]
    assert c.get("/api/v1/runs", headers=mine).status_code == 401
    bad = c.post("/api/v1/tokens", json={"user": "val", "expires": "9y"}, headers=admin)
    assert bad.status_code == 400
    assert c.get("/api/v1/tokens", headers=mine).status_code == 401
    assert (
        c.get("/api/v1/tokens", headers=bearer(token_for(workspace, "auditor"))).status_code == 403
    )
