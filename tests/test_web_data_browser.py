"""The data teams' pages in a real browser (Playwright driving Debian's Chromium): a data
engineer walks sources, pulls, snapshots, a diff, a quality check, the lake and the quarantine,
retries a record; each page holds its layout at 390, 900 and 1440 px with no serious or
critical axe-core violation (screenshots in test-results/screenshots/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.lake_helpers import small_lake
from tests.web_helpers import add_person, browser_sign_in, check_page, live_server

from caretwin.connectors import records
from caretwin.workspace import Workspace


@pytest.mark.browser
def test_a_data_engineer_walks_the_data_pages(
    chromium: Any, workspace: Workspace, tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    small_lake(workspace, tmp_path)
    records.create_pull(workspace, "pull-1", "ehr", "rest", "dana", str(tmp_path / "s"), {})
    add_person(workspace, "dana", ["data_engineer"])
    add_person(workspace, "quinn", ["quality"])
    checked = 0
    with live_server(workspace) as server:
        base = server.url
        page = chromium.new_page()
        try:
            browser_sign_in(page, base, "dana")
            page.get_by_role("link", name="Sources", exact=True).first.click()
            page.wait_for_url(f"{base}/sources")
            check_page(page, "data-sources")
            page.goto(f"{base}/pulls")
            check_page(page, "data-pulls")
            page.get_by_role("link", name="pull-1").click()
            page.wait_for_url(f"{base}/pulls/pull-1")
            check_page(page, "data-pull")
            page.goto(f"{base}/snapshots")
            check_page(page, "data-snapshots")
            page.get_by_role("button", name="Compare").click()
            page.wait_for_url(f"{base}/snapshots/diff?*")
            assert page.get_by_role("heading", name="Lake tables").is_visible()
            check_page(page, "data-snapshot-diff")
            page.goto(f"{base}/snapshots")
            page.locator("table a.id").first.click()
            page.get_by_role("heading", name="Per resource type").wait_for()
            check_page(page, "data-snapshot")
            page.get_by_role("button", name="Check data quality").click()
            page.get_by_role("heading", name="Checks").wait_for()
            assert "defect" in page.get_by_role("status").inner_text()
            check_page(page, "data-quality")
            page.goto(f"{base}/lake")
            check_page(page, "data-lake")
            page.get_by_role("link", name="Quarantine").first.click()
            page.wait_for_url(f"{base}/lake/quarantine")
            check_page(page, "data-quarantine")
            page.locator('input[name="ids"]').first.check()
            page.get_by_role("button", name="Retry selected").click()
            page.get_by_role("heading", name="Retried 1 record").wait_for()
            check_page(page, "data-quarantine-retried")
            checked = 10
        finally:
            page.close()
        # a role that reads data but brings none in: no retry; a clinician: the denied page
        page = chromium.new_page()
        try:
            browser_sign_in(page, base, "quinn", "/lake/quarantine")
            assert page.get_by_role("button", name="Retry selected").count() == 0
            add_person(workspace, "cleo", ["clinician"])
            page.context.clear_cookies()
            browser_sign_in(page, base, "cleo")
            response = page.goto(f"{base}/snapshots")
            assert response is not None and response.status == 403
            check_page(page, "data-denied", widths=(390,))
        finally:
            page.close()
    report_figure(f"web data pages: {checked} pages x 3 widths checked with axe-core in Chromium")
