"""Helpers of the web app's tests: users per role, signed-in clients, a real server, browser pages.

* :func:`add_person` adds a user with a password through the services.
* :func:`signed_in` signs a TestClient in through the sign-in form (CSRF included) and returns
  the session's CSRF token for the client's POSTs.
* :func:`session_for` opens a session directly (no password check), for walks over many roles.
* :class:`LiveServer` / :func:`live_server` serve a workspace with uvicorn on a free loopback
  port in a thread (with the job worker), for Playwright.
* :func:`browser_sign_in`, :func:`check_page` (no horizontal overflow, axe-core with no serious
  or critical violation, a screenshot in ``test-results/screenshots/``) for browser tests.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caretwin.access import Actor
from caretwin.services.context import ServiceContext
from caretwin.services.sessions import create_session
from caretwin.services.users import add_user
from caretwin.workspace import Workspace

ADMIN = Actor(name="root-admin", roles=frozenset({"admin"}))
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-results" / "screenshots"
#: The widths the layout must hold at (no horizontal overflow).
WIDTHS = (390, 900, 1440)


def password_of(name: str) -> str:
    return f"pw-{name}-Secret1"


def add_person(ws: Workspace, name: str, roles: list[str], full_name: str | None = None) -> str:
    """Add ``name`` with ``roles`` and a password (:func:`password_of`); returns the name."""
    add_user(
        ServiceContext(ws, ADMIN), name, full_name or f"{name.title()} Example", roles,
        password_of(name),
    )  # fmt: skip
    return name


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def web_client(ws: Workspace, **settings: Any) -> Any:
    """A TestClient on the whole app (API and pages) of ``ws``; redirects not followed."""
    from fastapi.testclient import TestClient

    from caretwin.api.app import ApiSettings, create_app

    return TestClient(
        create_app(ws, ApiSettings(**settings)),
        raise_server_exceptions=False,
        follow_redirects=False,
    )


def signed_in(client: Any, name: str, password: str | None = None) -> str:
    """Sign ``client`` in as ``name`` through the form; returns the session's CSRF token."""
    form = client.get("/signin")
    r = client.post(
        "/signin",
        data={"username": name, "password": password or password_of(name),
              "csrf_token": csrf_in(form.text), "next": "/"},
    )  # fmt: skip
    assert r.status_code == 303, (r.status_code, r.text[:500])
    return csrf_in(client.get("/").text)


def session_for(ws: Workspace, roles: list[str], name: str) -> tuple[str, str]:
    """A session of a person with ``roles`` (opened directly): ``(cookie value, csrf token)``."""
    new = create_session(ws, Actor(name=name, roles=frozenset(roles)), f"{name} Example")
    return new.session_id, new.csrf_token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    workspace: Workspace


@contextmanager
def live_server(ws: Workspace) -> Iterator[LiveServer]:
    """``caretwin serve``'s app and job worker on a free loopback port, in this process."""
    import uvicorn

    from caretwin.api.app import create_app
    from caretwin.services.jobs import JobWorker

    worker = JobWorker(ws, poll_seconds=0.2)
    app = create_app(ws, worker=worker)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    worker.start()
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", ws)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        worker.stop(timeout=10)


def browser_sign_in(page: Any, base: str, name: str, next_path: str = "/") -> None:
    """Sign in through the form in a Playwright ``page``; lands on ``next_path``."""
    page.goto(f"{base}/signin?next={next_path}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password_of(name))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{next_path}")


def overflow(page: Any) -> int:
    """How many pixels the page is wider than the viewport (0: none)."""
    return int(page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


def serious_violations(page: Any) -> list[str]:
    """axe-core (bundled by axe-playwright-python, no CDN) violations rated serious or critical."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def check_page(page: Any, name: str, widths: tuple[int, ...] = WIDTHS) -> None:
    """At each width: no horizontal overflow, a screenshot; axe-core once (at the widest)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(50)
        assert overflow(page) <= 0, f"{name} overflows at {width} px by {overflow(page)} px"
        page.screenshot(path=str(SCREENSHOTS / f"web-{name}-{width}.png"), full_page=True)
    assert serious_violations(page) == [], name
