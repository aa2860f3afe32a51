"""Web single sign-on against a real OpenID Connect provider on loopback (tests/oidc_helpers).

The whole authorization-code flow through the web app: the sign-in page's button, the redirect
to the provider with state, nonce and PKCE, the provider's form submitted, the callback opening
a session; a replayed callback, another browser's callback and a denial at the provider open
none. One browser test clicks the button in chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from caretwin.audit import AuditLog
from caretwin.workspace import Workspace
from oidc_helpers import USERS, Provider, configure_oidc, running_provider
from web_helpers import check_page, live_server, web_client


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider(USERS) as p:
        yield p


@pytest.fixture
def ws(workspace: Workspace, provider: Provider) -> Iterator[Workspace]:
    configured = configure_oidc(workspace, provider)
    yield configured
    configured.close()


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _start(c: Any, provider: Provider, next_path: str = "/") -> str:
    """Click the button and sign in at the provider as alice; the callback URL it sends back."""
    page = c.get(f"/signin?next={next_path}")
    assert "Sign in with Test IdP" in page.text
    r = c.get(f"/signin/oidc?next={next_path}")
    assert r.status_code == 303
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and "nonce" in query
    assert query["redirect_uri"] == ["http://testserver/signin/oidc/callback"]
    cookie = r.headers["set-cookie"]
    assert "caretwin_oidc=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    return provider.authorize(r.headers["location"], "u-alice")


def test_sso_signs_in_through_the_web_callback(ws: Workspace, provider: Provider) -> None:
    c = web_client(ws)
    callback = _start(c, provider, "/runs")
    r = c.get(_local(callback))
    assert r.status_code == 303 and r.headers["location"] == "/runs", r.text[:500]
    assert "caretwin_session=" in r.headers["set-cookie"]
    home = c.get("/")
    assert home.status_code == 200 and "alice" in home.text.lower()
    assert c.get("/runs").status_code == 200  # clinician: runs.read
    assert c.get("/audit").status_code == 403  # ... not audit.read
    starts = AuditLog(ws).list(limit=20, action="session.start")
    assert [(e.actor, e.details["method"]) for e in starts] == [("alice", "oidc")]
    # the same callback again (a replay, a back button): refused, no second session
    again = c.get(_local(callback))
    assert again.status_code == 401 and "already used" in again.text
    assert len(AuditLog(ws).list(limit=20, action="session.start")) == 1


def test_foreign_and_denied_callbacks_open_no_session(ws: Workspace, provider: Provider) -> None:
    victim, attacker = web_client(ws), web_client(ws)
    # login CSRF: the attacker's own callback planted in the victim's browser
    planted = _start(attacker, provider)
    r = victim.get(_local(planted))
    assert r.status_code == 401 and "another browser" in r.text
    assert "caretwin_session" not in victim.cookies
    # denied at the provider
    r = victim.get("/signin/oidc")
    back = provider.deny(r.headers["location"])
    r = victim.get(_local(back))
    assert r.status_code == 401 and "access_denied" in r.text
    # a forged state
    r = victim.get("/signin/oidc/callback?state=forged&code=x")
    assert r.status_code == 401
    assert AuditLog(ws).list(limit=20, action="session.start") == []


def test_no_button_and_no_route_without_oidc(workspace: Workspace) -> None:
    c = web_client(workspace)
    assert "Sign in with" not in c.get("/signin").text
    assert c.get("/signin/oidc").status_code == 400


@pytest.mark.browser
def test_browser_clicks_the_sso_button(ws: Workspace, provider: Provider, chromium: Any) -> None:
    with live_server(ws) as server:
        context = chromium.new_context()
        # the provider's page links a stylesheet on a CDN, which this machine cannot reach
        context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
        page = context.new_page()
        try:
            page.goto(f"{server.url}/signin?next=/runs")
            check_page(page, "signin-sso", widths=(390, 1440))
            page.get_by_role("link", name="Sign in with Test IdP").click()
            page.wait_for_url(f"{provider.issuer}/oauth2/authorize*")
            page.get_by_placeholder("sub").fill("u-alice")
            page.get_by_role("button", name="Authorize").click()
            page.wait_for_url(f"{server.url}/runs")
            assert "alice" in page.content().lower()
        finally:
            context.close()
