"""Models and scenarios in a real browser (Debian's Chromium through Playwright): a clinician
runs a scenario, watches it finish and reads its comparison; edits a scenario (an invalid value
refused beside its field), saves it, runs it and compares it with the baseline. Every page is
checked with axe-core (no serious or critical violation) and at 390, 900 and 1440 px wide (no
horizontal overflow); screenshots go to test-results/screenshots/."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.web_helpers import LiveServer, add_person, browser_sign_in, check_page, live_server

from caretwin.workspace import Workspace

pytestmark = pytest.mark.browser


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with Workspace.init(tmp_path / "ws") as ws:
        add_person(ws, "ada", ["clinician"], "Ada Lovelace")
        with live_server(ws) as server:
            yield server


def _short_run(page: Any) -> None:
    page.fill("#replications", "2")
    page.fill("#run_days", "1")
    page.fill("#warmup_days", "0")


def _wait_for_comparison(page: Any, base: str) -> float:
    t0 = time.monotonic()
    page.wait_for_url(f"{base}/runs/*/comparison", timeout=120_000)
    page.wait_for_selector("#comparison-chart .main-svg")  # Plotly drew the chart
    return time.monotonic() - t0


def test_clinician_runs_a_scenario_and_reads_its_comparison(
    chromium: Any, live: LiveServer, report_figure: Callable[[str], None]
) -> None:
    base = live.url
    page = chromium.new_page()
    browser_sign_in(page, base, "ada")
    page.get_by_role("link", name="Models and scenarios").first.click()
    page.select_option("#model-choice", "reference-hospital")
    page.get_by_role("button", name="Show").click()
    assert page.get_by_text("Decision support, not a clinical directive").first.is_visible()
    check_page(page, "scenarios-models")
    page.check("input[name=scenario][value=one_ct]")
    _short_run(page)
    page.get_by_role("button", name="Run against the baseline").click()
    page.wait_for_url(f"{base}/models/jobs/*")
    seconds = _wait_for_comparison(page, base)
    assert page.get_by_role("heading", name="one_ct vs baseline").is_visible()
    assert page.get_by_text("Decision support, not a clinical directive.").is_visible()
    assert page.get_by_role("heading", name="How to read the uncertainty").is_visible()
    rows = page.locator("table.comparison tbody tr").count()
    assert rows == 10  # one per KPI of the reference hospital
    check_page(page, "scenarios-comparison")
    report_figure(f"browser: scenario run to its comparison page in {seconds:.1f} s ({rows} KPIs)")
    page.close()


def test_clinician_edits_saves_runs_and_compares_a_scenario(
    chromium: Any, live: LiveServer, report_figure: Callable[[str], None]
) -> None:
    base = live.url
    page = chromium.new_page()
    browser_sign_in(page, base, "ada")
    page.get_by_role("link", name="Scenario editor").first.click()
    page.wait_for_url(f"{base}/scenarios/new")
    check_page(page, "scenarios-editor")
    icu = page.get_by_label("ICU beds (beds)")
    page.get_by_label("Name").fill("icu_plus4")
    page.get_by_label("Note on this version").fill("four more ICU beds")
    icu.fill("-4")
    page.get_by_role("button", name="Save scenario").click()
    # refused by the twin format's own check, the message beside the field it names
    error = page.locator(".field.has-error", has=icu).locator(".field-error")
    assert "greater than or equal to 0" in error.inner_text()
    assert icu.get_attribute("aria-invalid") == "true"
    assert page.get_by_role("alert").first.is_visible()
    check_page(page, "scenarios-editor-error")
    icu.fill("20")
    page.get_by_role("button", name="Save scenario").click()
    page.wait_for_url(f"{base}/scenarios/icu_plus4?saved=1")
    assert page.get_by_text("Saved as version 1").is_visible()
    assert page.get_by_role("cell", name="20 beds").is_visible()
    check_page(page, "scenarios-saved")
    _short_run(page)
    page.get_by_role("button", name="Run and compare with baseline").click()
    seconds = _wait_for_comparison(page, base)
    assert page.get_by_role("heading", name="icu_plus4@v1 vs baseline").is_visible()
    report_figure(f"browser: saved scenario run to its comparison page in {seconds:.1f} s")
    page.close()
