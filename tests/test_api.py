"""The HTTP API (caretwin.api) through FastAPI's TestClient: auth, errors, headers, pagination,
reports, jobs, and the audit of every request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.api_helpers import ADMIN, bearer, client, token_for

from caretwin.access import Actor
from caretwin.api.deps import RunsRead
from caretwin.audit import AuditLog
from caretwin.services.context import ServiceContext
from caretwin.services.jobs import fail_interrupted, run_next_job, submit_simulation
from caretwin.store.jobs import Job
from caretwin.workspace import Workspace

SMALL = {"model": "reference-hospital", "replications": 2, "run_days": 3, "warmup_days": 1}


def _events(ws: Workspace, action: str = "api.request") -> list[Any]:
    return AuditLog(ws).list(limit=50, action=action)


def _is_envelope(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)


def test_health_needs_no_credentials_and_has_security_headers(workspace: Workspace) -> None:
    r = client(workspace).get("/api/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": r.json()["version"]}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp


def test_openapi_lists_every_route_under_v1_with_its_permission(workspace: Workspace) -> None:
    doc = client(workspace).get("/api/v1/openapi.json").json()
    for path in ("/runs", "/runs/{run_id}/report", "/simulations", "/jobs/{job_id}", "/audit"):
        assert f"/api/v1{path}" in doc["paths"]
    assert all(p.startswith("/api/v1/") for p in doc["paths"])
    perms = {op["x-permission"] for item in doc["paths"].values() for op in item.values()}
    assert "public" in perms and "runs.read" in perms


def test_no_credentials_or_a_bad_token_is_401_audited_without_the_token(
    workspace: Workspace,
) -> None:
    c = client(workspace)
    r = c.get("/api/v1/runs")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    _is_envelope(r.json(), "not_authenticated")
    r = c.get("/api/v1/runs", headers=bearer("ct_not-a-real-token-secret"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    events = _events(workspace)
    assert [(e.actor, e.target, e.outcome, e.details["status"]) for e in events[:2]] == [
        ("anonymous", "GET /api/v1/runs", "denied", 401),
        ("anonymous", "GET /api/v1/runs", "denied", 401),
    ]
    trail = repr([e.to_dict() for e in AuditLog(workspace).list(limit=50)])
    assert "not-a-real-token-secret" not in trail


def test_a_role_outside_its_permission_gets_403_and_the_denial_is_audited(
    workspace: Workspace,
) -> None:
    token = token_for(workspace, "clinician")
    r = client(workspace).get("/api/v1/audit", headers=bearer(token))
    assert r.status_code == 403
    _is_envelope(r.json(), "access_denied")
    assert r.json()["error"]["details"]["permission"] == "audit.read"
    event = _events(workspace)[0]
    assert (event.actor, event.target, event.outcome) == (
        "u-clinician",
        "GET /api/v1/audit",
        "denied",
    )
    assert event.details["permission"] == "audit.read"


def test_errors_map_to_statuses_with_one_envelope(workspace: Workspace) -> None:
    c = client(workspace)
    h = bearer(token_for(workspace, "admin", "boss"))
    r = c.get("/api/v1/runs/sim-nope", headers=h)
    assert r.status_code == 404
    _is_envelope(r.json(), "run_not_found")
    r = c.get("/api/v1/jobs/job-nope", headers=h)
    assert r.status_code == 404
    _is_envelope(r.json(), "job_not_found")
    r = c.get("/api/v1/runs?limit=0", headers=h)  # FastAPI's own validation
    assert r.status_code == 422
    _is_envelope(r.json(), "invalid_request")
    assert r.json()["error"]["details"]["problems"][0]["path"] == "query.limit"
    r = c.get("/api/v1/runs?cursor=%%%", headers=h)
    assert r.status_code == 400
    _is_envelope(r.json(), "config_error")
    r = c.get("/api/v1/nowhere", headers=h)
    assert r.status_code == 404
    _is_envelope(r.json(), "not_found")
    r = c.post("/api/v1/validate", headers=h, json={"definition": "name: x\nresources: 3\n"})
    assert r.status_code == 422
    _is_envelope(r.json(), "definition_error")
    assert r.json()["error"]["details"]["problems"]
    r = c.post("/api/v1/simulations", headers=h, json={**SMALL, "scenarios": ["nope"]})
    assert r.status_code == 422
    _is_envelope(r.json(), "scenario_not_found")


def test_validate_schema_examples(workspace: Workspace) -> None:
    from caretwin.model import example_text

    c = client(workspace)
    h = bearer(token_for(workspace, "viewer"))
    assert {"name": "reference-hospital"} in c.get("/api/v1/examples", headers=h).json()["items"]
    assert "properties" in c.get("/api/v1/schema", headers=h).json()
    body = {"definition": example_text("reference-hospital")}
    r = c.post("/api/v1/validate", headers=h, json=body)
    assert r.status_code == 200
    assert r.json()["valid"] is True and "baseline" in r.json()["scenarios"]


def test_request_bodies_over_the_limit_get_413(workspace: Workspace) -> None:
    c = client(workspace, max_body_bytes=1000)
    h = bearer(token_for(workspace, "viewer"))
    r = c.post("/api/v1/validate", headers=h, json={"definition": "x" * 2000})
    assert r.status_code == 413
    _is_envelope(r.json(), "request_too_large")
    assert r.headers["x-content-type-options"] == "nosniff"

    def chunks() -> Any:  # no Content-Length: the limit still holds
        for _ in range(5):
            yield b"x" * 400

    r = c.post("/api/v1/validate", headers=h, content=chunks())
    assert r.status_code == 413


def _record_runs(ws: Workspace, n: int) -> list[str]:
    from caretwin.runs import RunRecorder

    ctx = ServiceContext(ws, ADMIN)
    ids = []
    for _ in range(n):
        rec = RunRecorder.start(ctx, "simulate", "m", "h")
        rec.finish({})
        ids.append(rec.run_id)
    return ids


def test_runs_are_paginated_by_cursor(workspace: Workspace) -> None:
    ids = _record_runs(workspace, 5)
    c = client(workspace)
    h = bearer(token_for(workspace, "viewer"))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = c.get("/api/v1/runs", headers=h, params=params).json()
        seen += [r["run_id"] for r in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert c.get("/api/v1/runs", headers=h, params={"kind": "forecast"}).json() == {
        "items": [],
        "next_cursor": None,
    }


def test_audit_is_paginated_by_cursor(workspace: Workspace) -> None:
    c = client(workspace)
    h = bearer(token_for(workspace, "auditor"))
    for _ in range(4):
        c.get("/api/v1/runs", headers=h)
    first = c.get("/api/v1/audit", headers=h, params={"limit": 3}).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    second = c.get(
        "/api/v1/audit", headers=h, params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert second["items"][0]["id"] < first["items"][-1]["id"]


def test_audit_verify(workspace: Workspace) -> None:
    c = client(workspace)
    r = c.get("/api/v1/audit/verify", headers=bearer(token_for(workspace, "auditor")))
    assert r.status_code == 200
    assert r.json()["ok"] is True and r.json()["events"] > 0


@pytest.mark.slow
def test_a_simulation_job_runs_and_its_report_is_served_under_a_hash_csp(
    workspace: Workspace,
) -> None:
    c = client(workspace)
    h = bearer(token_for(workspace, "clinician"))
    r = c.post("/api/v1/simulations", headers=h, json=SMALL)
    assert r.status_code == 202
    job_url = r.headers["location"]
    assert job_url == r.json()["url"] and job_url.startswith("/api/v1/jobs/job-")
    assert c.get(job_url, headers=h).json()["status"] == "queued"
    ran = run_next_job(workspace)
    assert ran is not None and ran.job_id == r.json()["job_id"]
    job = c.get(job_url, headers=h).json()
    assert (job["status"], job["progress"], job["done"], job["total"]) == ("done", 1.0, 2, 2)
    run = c.get(job["run_url"], headers=h).json()
    assert run["actor"] == "u-clinician" and run["replications"] == 2
    manifest = c.get(f"/api/v1/runs/{job['run_id']}/manifest", headers=h).json()
    assert manifest["run_id"] == job["run_id"]
    report = c.get(job["report_url"], headers=h)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    csp = report.headers["content-security-policy"]
    assert "'sha256-" in csp and "sandbox allow-scripts" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert report.headers["x-frame-options"] == "DENY"


def test_a_failing_job_is_failed_with_the_envelope(any_workspace: Workspace) -> None:
    workspace = any_workspace
    viewer = Actor("v", frozenset({"viewer"}))
    ctx = ServiceContext(workspace, ADMIN)
    job = submit_simulation(ctx, "reference-hospital", replications=2, run_days=1)
    with workspace.session() as session:  # the submitter lost the right to simulate
        row = session.get(Job, job.job_id)
        assert row is not None
        row.roles = sorted(viewer.roles)
    run_next_job(workspace)
    with workspace.session() as session:
        row = session.get(Job, job.job_id)
        assert row is not None
        assert row.status == "failed" and row.error is not None
        assert row.error["code"] == "access_denied"


def test_a_job_left_running_by_a_stopped_server_is_failed_at_start_up(
    any_workspace: Workspace,
) -> None:
    workspace = any_workspace
    ctx = ServiceContext(workspace, ADMIN)
    running = submit_simulation(ctx, "reference-hospital", replications=2)
    queued = submit_simulation(ctx, "reference-hospital", replications=2)
    with workspace.session() as session:  # a server killed while running it
        row = session.get(Job, running.job_id)
        assert row is not None
        row.status = "running"
    assert [j.job_id for j in fail_interrupted(workspace)] == [running.job_id]
    h = bearer(token_for(workspace, "viewer"))
    c = client(workspace)
    body = c.get(f"/api/v1/jobs/{running.job_id}", headers=h).json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "interrupted" and "server stopped" in body["error"]["message"]
    assert c.get(f"/api/v1/jobs/{queued.job_id}", headers=h).json()["status"] == "queued"
    (event,) = _events(workspace, "jobs.interrupted")
    assert event.target == running.job_id


def test_a_queued_job_can_be_cancelled(any_workspace: Workspace) -> None:
    workspace = any_workspace
    c = client(workspace)
    h = bearer(token_for(workspace, "clinician"))
    r = c.post("/api/v1/simulations", headers=h, json={**SMALL, "scenarios": ["all"]})
    assert r.json()["params"]["scenarios"] == ["all"]
    url = r.headers["location"]
    r = c.post(f"{url}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert run_next_job(workspace) is None
    assert c.post(f"{url}/cancel", headers=h).status_code == 400
    second = c.post("/api/v1/simulations", headers=h, json=SMALL).json()["job_id"]
    listed = c.get("/api/v1/jobs", headers=h, params={"limit": 1}).json()
    assert [j["job_id"] for j in listed["items"]] == [second] and listed["next_cursor"]
    assert listed["items"][0]["url"] == f"/api/v1/jobs/{second}"
    rest = c.get("/api/v1/jobs", headers=h, params={"cursor": listed["next_cursor"]}).json()
    assert [j["url"] for j in rest["items"]] == [url] and rest["next_cursor"] is None
    cancelled = c.get("/api/v1/jobs", headers=h, params={"status": "cancelled"}).json()
    assert [j["url"] for j in cancelled["items"]] == [url]


def test_a_route_without_a_declared_permission_stops_the_app(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import APIRouter

    from caretwin.api import app as api_app
    from caretwin.errors import ConfigError

    rogue = APIRouter()

    @rogue.get("/rogue")
    def handler() -> dict[str, str]:
        return {}

    monkeypatch.setattr(api_app, "_routers", lambda: {"rogue": rogue})
    with pytest.raises(ConfigError, match="without a declared permission"):
        api_app.create_app(workspace)


def test_serve_is_listed_and_cheap(tmp_path: Path) -> None:
    from caretwin.cli.app import COMMANDS

    assert COMMANDS["serve"][0] == "caretwin.api.commands"


def test_an_unexpected_error_is_a_500_envelope_with_headers_and_audited(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import APIRouter

    from caretwin.api import app as api_app

    broken = APIRouter()

    @broken.get("/broken")
    def handler(ctx: RunsRead) -> dict[str, str]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api_app, "_routers", lambda: {"broken": broken})
    h = bearer(token_for(workspace, "viewer"))
    r = client(workspace).get("/api/v1/broken", headers=h)
    assert r.status_code == 500
    _is_envelope(r.json(), "internal_error")
    assert "secret internals" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    event = _events(workspace)[0]
    assert (event.target, event.outcome, event.details["status"]) == (
        "GET /api/v1/broken",
        "error",
        500,
    )


def test_data_routes_render_their_services(workspace: Workspace) -> None:
    c = client(workspace)
    viewer = bearer(token_for(workspace, "viewer"))
    data = bearer(token_for(workspace, "data_engineer"))
    views = c.get("/api/v1/views", headers=viewer).json()
    assert views["next_cursor"] is None and views["items"]
    name = views["items"][0]["name"]
    assert c.get(f"/api/v1/views/{name}", headers=viewer).json()["name"] == name
    plugins = c.get("/api/v1/plugins", headers=viewer).json()["items"]
    assert {"name": "builtin_routers"}.items() <= next(
        p for p in plugins if p["name"] == "builtin_routers"
    ).items()
    assert c.get("/api/v1/snapshots", headers=viewer).status_code == 403  # patient-level data
    assert c.get("/api/v1/snapshots", headers=data).json() == {"items": [], "next_cursor": None}
    assert c.get("/api/v1/lake/tables", headers=data).status_code == 200
    assert c.get("/api/v1/sources", headers=data).json()["items"] == []
    assert c.get("/api/v1/sources/nope", headers=data).status_code in (400, 404)


def test_a_token_use_is_written_at_most_once_a_minute(workspace: Workspace) -> None:
    """Each request must not serialise on a write of the token's last use (throughput)."""
    from caretwin.services.identity import authenticate_token
    from caretwin.store.identity import ApiToken

    token = token_for(workspace, "viewer")

    def last_used() -> object:
        with workspace.session() as session:
            (row,) = session.query(ApiToken).all()
            return row.last_used_at

    authenticate_token(workspace, token)
    first = last_used()
    assert first is not None
    authenticate_token(workspace, token)
    assert last_used() == first
