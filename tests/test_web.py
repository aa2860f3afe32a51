"""The web app without a browser: sign-in, sessions (cookie flags, idle and absolute expiry,
sign-out), CSRF on every form, throttling, the denied page, the pages' CSP and templates."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from tests.web_helpers import add_person, csrf_in, password_of, signed_in, web_client

from caretwin.audit import AuditLog
from caretwin.errors import NotAuthenticated
from caretwin.services import sessions
from caretwin.store.models import utcnow
from caretwin.store.sessions import WebSessionRow
from caretwin.web.deps import SESSION_COOKIE
from caretwin.web.routing import PAGE_CSP
from caretwin.workspace import Workspace

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "caretwin" / "web" / "templates"


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    add_person(workspace, "alice", ["auditor"], "Alice Auditor")
    add_person(workspace, "carl", ["clinician"], "Carl Clinician")
    add_person(workspace, "ada", ["admin"], "Ada Admin")
    return workspace


def _actions(ws: Workspace) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.outcome) for e in AuditLog(ws).list(limit=1000)]


def test_anonymous_pages_redirect_to_sign_in_with_next(ws: Workspace) -> None:
    c = web_client(ws)
    r = c.get("/audit?actor=x")
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=/audit%3Factor%3Dx"
    assert c.get("/").headers["location"] == "/signin?next=/"


def test_sign_in_sets_a_server_side_session_cookie(ws: Workspace) -> None:
    c = web_client(ws)
    form = c.get("/signin?next=/audit")
    assert form.status_code == 200 and 'autocomplete="current-password"' in form.text
    r = c.post(
        "/signin",
        data={"username": "alice", "password": password_of("alice"),
              "csrf_token": csrf_in(form.text), "next": "/audit"},
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/audit"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags  # plain http (loopback): a Secure cookie would never come back
    page = c.get("/audit")
    assert page.status_code == 200 and "Alice Auditor" in page.text
    # only the id's hash is stored: the database alone cannot be replayed as a cookie
    sid = c.cookies[SESSION_COOKIE]
    with ws.session() as s:
        rows = s.query(WebSessionRow).all()
    assert len(rows) == 1 and rows[0].session_hash != sid and sid not in str(rows[0].__dict__)
    assert ("session.start", "alice", "ok") in _actions(ws)
    assert ("auth.password", "alice", "ok") in _actions(ws)


def test_the_cookie_is_secure_under_tls(ws: Workspace) -> None:
    from fastapi.testclient import TestClient

    from caretwin.api.app import create_app

    c = TestClient(create_app(ws), base_url="https://testserver", follow_redirects=False)
    form = c.get("/signin")
    assert "secure" in form.headers["set-cookie"].lower()  # the sign-in form's own cookie
    r = c.post(
        "/signin",
        data={"username": "alice", "password": password_of("alice"),
              "csrf_token": csrf_in(form.text)},
    )  # fmt: skip
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "secure" in cookie.lower()
    assert c.get("/").headers["strict-transport-security"] == "max-age=31536000"


def test_next_is_never_another_site(ws: Workspace) -> None:
    c = web_client(ws)
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        c.cookies.clear()
        form = c.get("/signin")
        r = c.post(
            "/signin",
            data={"username": "alice", "password": password_of("alice"),
                  "csrf_token": csrf_in(form.text), "next": evil},
        )  # fmt: skip
        assert r.headers["location"] == "/", evil


def test_sign_out_ends_the_session_server_side(ws: Workspace) -> None:
    c = web_client(ws)
    csrf = signed_in(c, "alice")
    sid = c.cookies[SESSION_COOKIE]
    r = c.post("/signout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    c.cookies.set(SESSION_COOKIE, sid)  # a copy of the old cookie is worthless now
    assert c.get("/audit").headers["location"].startswith("/signin?next=")
    assert ("session.end", "alice", "ok") in _actions(ws)


def test_every_post_form_needs_the_session_csrf_token(ws: Workspace) -> None:
    c = web_client(ws)
    signed_in(c, "ada")
    for path, form in [
        ("/signout", {}),
        ("/users", {"name": "mallory", "full_name": "M", "roles": "admin"}),
        ("/audit/verify", {}),
        ("/tokens", {"user": "ada"}),
    ]:
        for token in (None, "forged"):
            data = dict(form) if token is None else {**form, "csrf_token": token}
            r = c.post(path, data=data)
            assert r.status_code == 403, (path, token)
            assert "security token" in r.text
    assert "mallory" not in c.get("/users").text  # nothing was done
    assert c.get("/").status_code == 200  # and the session still stands
    # the sign-in form has its own (pre-session) token
    c.cookies.clear()
    r = c.post("/signin", data={"username": "ada", "password": password_of("ada")})
    assert r.status_code == 403


def test_wrong_passwords_are_throttled_per_user_and_per_address(ws: Workspace) -> None:
    after = ws.config.security.signin_throttle_after
    c = web_client(ws)

    def attempt(name: str, password: str) -> Any:
        form = c.get("/signin")
        return c.post(
            "/signin",
            data={"username": name, "password": password, "csrf_token": csrf_in(form.text)},
        )

    for _ in range(after):
        r = attempt("carl", "wrong")
        assert r.status_code == 401 and "Invalid user name or password" in r.text
    r = attempt("carl", password_of("carl"))  # even the right password waits
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert ("auth.throttle", "anonymous", "denied") in _actions(ws)
    # the same address trying other names is throttled too
    r = attempt("alice", password_of("alice"))
    assert r.status_code == 429


def test_throttle_window_passes_with_the_clock() -> None:
    from caretwin.web.throttle import SignInThrottle

    now = [1000.0]
    t = SignInThrottle(after=3, window=60, clock=lambda: now[0])
    keys = ["user:x", "addr:1.2.3.4"]
    for _ in range(3):
        assert t.wait_seconds(keys) == 0
        t.failed(keys)
    assert t.wait_seconds(keys) == 60
    now[0] += 30
    assert t.wait_seconds(["addr:1.2.3.4"]) == 30
    now[0] += 31
    assert t.wait_seconds(keys) == 0
    t.failed(keys)
    t.succeeded("user:x")
    assert t.wait_seconds(["user:x"]) == 0


def test_lockout_applies_to_web_sign_in(ws: Workspace) -> None:
    from caretwin.web.throttle import SignInThrottle

    c = web_client(ws)
    c.app.state.signin_throttle = SignInThrottle(after=100, window=60)  # lockout, not throttle
    for _ in range(ws.config.security.lockout_after):
        form = c.get("/signin")
        c.post("/signin", data={"username": "carl", "password": "wrong",
                                "csrf_token": csrf_in(form.text)})  # fmt: skip
    form = c.get("/signin")
    r = c.post("/signin", data={"username": "carl", "password": password_of("carl"),
                                "csrf_token": csrf_in(form.text)})  # fmt: skip
    assert r.status_code == 401 and "locked" in r.text


def test_idle_and_absolute_expiry_with_a_fake_clock(ws: Workspace) -> None:
    from caretwin.access import Actor

    actor = Actor("carl", frozenset({"clinician"}))
    t0 = utcnow()
    new = sessions.create_session(ws, actor, "Carl Clinician", now=t0)
    idle = timedelta(minutes=ws.config.security.session_idle_minutes)
    # activity keeps it alive past the idle limit ...
    live = sessions.resolve_session(ws, new.session_id, now=t0 + idle - timedelta(seconds=1))
    assert live.user == "carl" and live.full_name == "Carl Clinician"
    later = t0 + 2 * idle - timedelta(seconds=2)
    assert sessions.resolve_session(ws, new.session_id, now=later).user == "carl"
    # ... but not past the absolute expiry
    end = t0 + timedelta(hours=ws.config.security.session_max_hours)
    with pytest.raises(NotAuthenticated, match="expired"):
        sessions.resolve_session(ws, new.session_id, now=end)
    # idle: logged off, audited, and gone for good
    other = sessions.create_session(ws, actor, "Carl Clinician", now=t0)
    with pytest.raises(NotAuthenticated, match="idle"):
        sessions.resolve_session(ws, other.session_id, now=t0 + idle)
    with pytest.raises(NotAuthenticated):
        sessions.resolve_session(ws, other.session_id, now=t0)
    reasons = [e.details.get("reason") for e in AuditLog(ws).list(action="session.expire")]
    assert sorted(reasons) == ["expired", "idle"]


def test_an_idle_browser_session_is_logged_off(ws: Workspace) -> None:
    c = web_client(ws)
    signed_in(c, "alice")
    idle = timedelta(minutes=ws.config.security.session_idle_minutes)
    with ws.session() as s:  # the clock moves on: the session was last seen long ago
        s.execute(update(WebSessionRow).values(last_seen_at=utcnow() - idle))
    r = c.get("/audit")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/audit"
    assert ("session.expire", "alice", "ok") in _actions(ws)


def test_a_disabled_user_or_changed_roles_apply_at_once(ws: Workspace) -> None:
    from tests.web_helpers import ADMIN

    from caretwin.services.context import ServiceContext
    from caretwin.services.users import disable_user, set_roles

    c = web_client(ws)
    signed_in(c, "carl")
    assert c.get("/audit").status_code == 403
    set_roles(ServiceContext(ws, ADMIN), "carl", ["auditor"])
    assert c.get("/audit").status_code == 200
    disable_user(ServiceContext(ws, ADMIN), "carl")
    assert c.get("/audit").headers["location"].startswith("/signin")


def test_a_role_without_permission_gets_the_denied_page_audited(ws: Workspace) -> None:
    c = web_client(ws)
    signed_in(c, "carl")
    r = c.get("/audit")
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "Not allowed" in r.text and "audit.read" in r.text
    assert "Carl Clinician" in r.text  # the layout still shows who is signed in
    denied = AuditLog(ws).list(action="web.request", actor="carl")
    assert any(e.target == "GET /audit" and e.outcome == "denied" for e in denied)
    # the clinician's navigation offers no audit page
    home = c.get("/").text
    assert 'href="/audit"' not in home and 'href="/runs"' in home


def test_the_session_id_is_never_logged_or_audited(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c = web_client(ws)
    csrf = signed_in(c, "alice")
    sid = c.cookies[SESSION_COOKIE]
    c.get("/audit")
    c.post("/signout", data={"csrf_token": csrf})
    trail = " ".join(f"{e.target} {e.details}" for e in AuditLog(ws).list(limit=1000))
    assert sid not in trail and csrf not in trail
    assert sid not in caplog.text


# Inline style, event handlers, style blocks and scripts that are not loaded from a file. A
# `<script type="application/json">` data block (the comparison chart's numbers) is not code:
# browsers never execute it, and the CSP's script-src does not apply to it.
INLINE_CODE = re.compile(
    r"\sstyle=|\son[a-z]+=|<style|<script(?![^>]*\b(?:src=|type=\"application/json\"))"
)


def test_pages_carry_a_csp_without_inline_code(ws: Workspace) -> None:
    c = web_client(ws)
    signed_in(c, "ada")
    for path in ("/", "/runs", "/jobs", "/audit", "/users", "/tokens", "/users/ada"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == PAGE_CSP
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
        assert not re.search(r"\sstyle=", r.text), path
    assert "unsafe-inline" not in PAGE_CSP and "script-src 'self'" in PAGE_CSP
    for template in TEMPLATES.glob("*.html"):  # nothing inline in any template either
        text = template.read_text(encoding="utf-8")
        assert not INLINE_CODE.search(text), template


def test_static_files_and_plotly_are_served_by_the_app(ws: Workspace) -> None:
    c = web_client(ws)
    css = c.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    plotly = c.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert c.get("/static/..%2Fpages").status_code == 404
    assert c.get("/static/nope.js").status_code == 404
    # static files are not audited; pages are
    assert not [e for e in AuditLog(ws).list(limit=100) if "/static/" in e.target]


def test_admin_adds_a_user_sets_roles_and_the_token_is_shown_once(ws: Workspace) -> None:
    c = web_client(ws)
    csrf = signed_in(c, "ada")
    r = c.post(
        "/users",
        data={"csrf_token": csrf, "name": "vera", "full_name": "Vera Vendor",
              "roles": ["vendor"], "password": "pw-vera-1"},
    )  # fmt: skip
    assert r.status_code == 201 and "User vera added" in r.text
    r = c.post("/users/vera/roles", data={"csrf_token": csrf, "roles": ["vendor", "quality"]})
    assert r.status_code == 200 and "Roles saved" in r.text
    r = c.post("/tokens", data={"csrf_token": csrf, "user": "vera", "expires": "1d"})
    assert r.status_code == 201
    token = re.search(r'id="new-token" class="token" value="(ct_[^"]+)"', r.text)
    assert token is not None
    listing = c.get("/tokens").text
    assert token.group(1) not in listing and "vera" in listing
    token_id = re.search(r"Token (tok_[0-9a-f]+) created", r.text)
    assert token_id is not None
    r = c.post(f"/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert "revoked" in c.get("/tokens").text
    r = c.post("/users/vera/disable", data={"csrf_token": csrf})
    assert "User disabled" in r.text
    bad = c.post("/users", data={"csrf_token": csrf, "name": "Bad Name", "full_name": "x",
                                 "roles": ["viewer"]})  # fmt: skip
    assert bad.status_code == 400 and "invalid user name" in bad.text


def test_a_queued_job_is_cancelled_from_its_page(ws: Workspace) -> None:
    from caretwin.services.context import ServiceContext
    from caretwin.services.jobs import submit_simulation
    from caretwin.services.sessions import sign_in

    carl = sign_in(ws, "carl", password_of("carl"))
    job = submit_simulation(
        ServiceContext(ws, sessions.resolve_session(ws, carl.session_id).actor),
        "reference-hospital",
        replications=1,
        run_days=1,
    )
    c = web_client(ws)
    csrf = signed_in(c, "carl")
    page = c.get(f"/jobs/{job.job_id}")
    assert page.status_code == 200 and "Cancel this job" in page.text
    assert '<meta http-equiv="refresh"' in page.text  # queued: the page watches it
    r = c.post(f"/jobs/{job.job_id}/cancel", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Job cancelled." in r.text
    assert "Cancel this job" not in r.text and '<meta http-equiv="refresh"' not in r.text
    # someone else's job: refused by the service (workspace.admin), shown as the denied page
    other = web_client(ws)
    csrf = signed_in(other, "alice")
    assert other.post(f"/jobs/{job.job_id}/cancel", data={"csrf_token": csrf}).status_code == 403
