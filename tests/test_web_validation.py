"""The validation pages: the runs on record and a run's scorecard, through a TestClient (who may
open them, what they say) and in Chromium (layout at 390/900/1440 px, axe-core)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from tests.test_validation import _backtest
from tests.web_helpers import (
    ADMIN,
    add_person,
    browser_sign_in,
    check_page,
    live_server,
    signed_in,
    web_client,
)

from caretwin.runs import RunRecorder
from caretwin.services.context import ServiceContext
from caretwin.services.validation import SCORECARD_FILE, add_evidence
from caretwin.validation import build_scorecard, resolve_plan
from caretwin.workspace import Workspace


def recorded_scorecard(ws: Workspace) -> str:
    """A validation run on record whose scorecard is built from a synthetic backtest (a real
    backtest takes minutes; tests/test_validation.py checks the computation)."""
    ctx = ServiceContext(ws, ADMIN)
    plan, _ = resolve_plan("rh1-backtest")
    add_evidence(ctx, "face_validity", "Ward review", "reference-hospital", "Looks right.")
    sc = build_scorecard(plan, _backtest())
    with RunRecorder.start(ctx, "validation", plan.name, plan.content_hash()) as rec:
        (rec.run_dir / SCORECARD_FILE).write_bytes(orjson.dumps(sc.to_dict()))
        rec.finish({"passed": sc.passed})
    return rec.run_id


def test_validation_pages_show_the_scorecard_to_readers_of_runs(workspace: Workspace) -> None:
    run_id = recorded_scorecard(workspace)
    add_person(workspace, "cleo", ["clinician"])
    add_person(workspace, "lee", ["legal"])
    c = web_client(workspace)
    signed_in(c, "cleo")
    page = c.get("/validation")
    assert page.status_code == 200
    assert f'href="/validation/{run_id}"' in page.text and "Ward review" in page.text
    card = c.get(f"/validation/{run_id}")
    assert card.status_code == 200
    assert "cannot</strong> predict: Biased KPI" in card.text
    assert "Acceptance criteria" in card.text and "inside the simulated range" not in card.text
    assert c.get("/validation/sim-nope").status_code == 404
    # every role reading runs sees it; the navigation links it
    assert 'href="/validation"' in c.get("/").text
    legal = web_client(workspace)
    signed_in(legal, "lee")
    assert legal.get(f"/validation/{run_id}").status_code == 200


@pytest.mark.browser
def test_scorecard_pages_in_a_browser(
    chromium: Any, workspace: Workspace, report_figure: Callable[[str], None]
) -> None:
    run_id = recorded_scorecard(workspace)
    add_person(workspace, "cleo", ["clinician"])
    with live_server(workspace) as server:
        page = chromium.new_page()
        try:
            browser_sign_in(page, server.url, "cleo")
            page.get_by_role("link", name="Validation", exact=True).first.click()
            page.wait_for_url(f"{server.url}/validation")
            check_page(page, "validation-runs")
            page.get_by_role("link", name=run_id).click()
            page.wait_for_url(f"{server.url}/validation/{run_id}")
            assert page.get_by_role("heading", name="Acceptance criteria").is_visible()
            check_page(page, "validation-scorecard")
        finally:
            page.close()
    report_figure("web validation pages: 2 pages x 3 widths checked with axe-core in Chromium")


def test_api_queues_a_validation_run_and_serves_scorecards(workspace: Workspace) -> None:
    from tests.api_helpers import bearer, client, token_for

    run_id = recorded_scorecard(workspace)
    c = client(workspace)
    analyst = bearer(token_for(workspace, "analyst"))
    r = c.post("/api/v1/validation/runs", json={"plan": "demo-holdout"}, headers=analyst)
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "validation" and r.headers["location"].startswith("/api/v1/jobs/")
    bad = c.post("/api/v1/validation/runs", json={"plan": "nope"}, headers=analyst)
    assert bad.status_code in (400, 422)
    viewer = bearer(token_for(workspace, "viewer"))
    assert (
        c.post("/api/v1/validation/runs", json={"plan": "demo-holdout"}, headers=viewer).status_code
        == 403
    )
    card = c.get(f"/api/v1/validation/runs/{run_id}", headers=viewer)
    assert card.status_code == 200 and card.json()["scorecard"]["plan_name"] == "rh1-backtest"
    listed = c.get("/api/v1/validation/runs", headers=viewer).json()["items"]
    assert [x["run_id"] for x in listed] == [run_id]
    ev = c.get("/api/v1/validation/evidence", headers=viewer).json()["items"]
    assert ev[0]["title"] == "Ward review" and not ev[0]["signed"]
