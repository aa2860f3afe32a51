"""The web app in a real browser (Playwright driving Debian's chromium) against a real server.

One server per module (uvicorn in a thread, with the job worker) on a temporary workspace whose
users are made through the services. Every page is checked at 390, 900 and 1440 px for
horizontal overflow and with axe-core for serious or critical violations; screenshots go to
``test-results/screenshots/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.web_helpers import (
    ADMIN,
    LiveServer,
    add_person,
    browser_sign_in,
    check_page,
    live_server,
)

from caretwin.services.context import ServiceContext
from caretwin.services.jobs import get_job, submit_simulation
from caretwin.workspace import Workspace

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    ws = Workspace.init(tmp_path_factory.mktemp("web") / "ws")
    add_person(ws, "alice", ["auditor"], "Alice Auditor")
    add_person(ws, "carl", ["clinician"], "Carl Clinician")
    add_person(ws, "ada", ["admin"], "Ada Admin")
    with live_server(ws) as live:
        yield live
    ws.close()


@pytest.fixture(scope="module")
def finished_job(server: LiveServer) -> str:
    """A small simulation run by the server's worker: its job id (the run has a report)."""
    ctx = ServiceContext(server.workspace, ADMIN)
    job = submit_simulation(ctx, "reference-hospital", replications=2, seed=7, run_days=2)
    deadline = time.monotonic() + 180
    while (info := get_job(ctx, job.job_id)).status in ("queued", "running"):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)
    assert info.status == "done", info.error
    return job.job_id


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


def test_an_auditor_reads_the_audit_log_and_finds_their_sign_in(
    server: LiveServer, page: Any
) -> None:
    browser_sign_in(page, server.url, "alice", "/audit")
    assert page.get_by_role("heading", name="Audit trail").is_visible()
    header = page.locator("header.site")
    assert "Alice Auditor" in header.inner_text() and "auditor" in header.inner_text()
    page.get_by_label("Action").fill("session.start")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"{server.url}/audit?action=session.start*")
    rows = page.locator("tbody tr")
    assert rows.count() >= 1
    assert "alice" in rows.first.inner_text() and "ok" in rows.first.inner_text()
    page.get_by_role("button", name="Verify chain").click()
    assert page.get_by_role("heading", name="Chain verified").is_visible()
    check_page(page, "audit")


def test_a_clinician_gets_the_denied_page_for_the_audit_log(server: LiveServer, page: Any) -> None:
    browser_sign_in(page, server.url, "carl")
    assert (
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").count() == 0
    )
    response = page.goto(f"{server.url}/audit")
    assert response.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert "audit.read" in page.locator("main").inner_text()
    check_page(page, "denied")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.url}/signin")
    page.goto(f"{server.url}/")
    assert page.url.startswith(f"{server.url}/signin?next=")


def test_sign_in_page_layout_and_accessibility(server: LiveServer, page: Any) -> None:
    page.goto(f"{server.url}/signin")
    check_page(page, "signin")
    page.get_by_label("User name").fill("carl")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("Invalid user name or password")


def test_every_page_holds_its_layout_and_passes_axe(
    server: LiveServer, page: Any, finished_job: str, report_figure: Callable[[str], None]
) -> None:
    started = time.perf_counter()
    run_id = get_job(ServiceContext(server.workspace, ADMIN), finished_job).run_id
    assert run_id is not None
    browser_sign_in(page, server.url, "ada")
    pages = {
        "home": "/",
        "runs": "/runs",
        "run": f"/runs/{run_id}",
        "jobs": "/jobs",
        "job": f"/jobs/{finished_job}",
        "users": "/users",
        "user": "/users/carl",
        "tokens": "/tokens",
    }
    for name, path in pages.items():
        response = page.goto(f"{server.url}{path}")
        assert response.status == 200, (name, response.status)
        check_page(page, name)
    report_figure(
        f"web pages in chromium: {len(pages) + 3} pages x 3 widths checked (overflow, axe-core) "
        f"in {time.perf_counter() - started:.1f} s"
    )


def test_the_run_page_frames_its_report_sandboxed(
    server: LiveServer, page: Any, finished_job: str
) -> None:
    run_id = get_job(ServiceContext(server.workspace, ADMIN), finished_job).run_id
    browser_sign_in(page, server.url, "carl", f"/runs/{run_id}")
    frame_el = page.locator("iframe.report")
    assert frame_el.get_attribute("sandbox") == "allow-scripts allow-downloads"
    frame = page.frame_locator("iframe.report")
    frame.locator("h1").first.wait_for(timeout=15000)
    assert frame.locator("h1").first.inner_text()
    # the report's own scripts ran (Plotly drew its figures) under the report's CSP
    frame.locator(".js-plotly-plot").first.wait_for(timeout=15000)


def test_an_admin_creates_a_token_and_sees_it_once(server: LiveServer, page: Any) -> None:
    browser_sign_in(page, server.url, "ada", "/tokens")
    page.get_by_label("User", exact=True).select_option("carl")
    page.get_by_label("Expires after (e.g. 30d, 12h, 90m)").fill("1d")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New token").input_value()
    assert token.startswith("ct_")
    check_page(page, "token-created", widths=(390,))
    page.goto(f"{server.url}/tokens")
    assert token not in page.content()
