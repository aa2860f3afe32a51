"""Forecasts computed in the request (capped), states to start them from, and recorded
experiments and forecasts read back."""

from __future__ import annotations

from tests.api_helpers import ADMIN, bearer, client, token_for

from caretwin.experiment import spec_from_data
from caretwin.model import example_path
from caretwin.services.context import ServiceContext
from caretwin.services.experiment import run_experiment
from caretwin.workspace import Workspace


def test_a_state_then_a_short_forecast_recorded_as_a_run(workspace: Workspace) -> None:
    c = client(workspace)
    pm = bearer(token_for(workspace, "program_manager"))
    state = c.post(
        "/api/v1/forecast-states", json={"model": "reference-hospital", "at": 30}, headers=pm
    )
    assert state.status_code == 200, state.text
    body = {"model": "reference-hospital", "state": state.json(), "hours": 6, "replications": 8}
    r = c.post("/api/v1/forecasts", json=body, headers=pm)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["replications"] == 8 and run["hours"] == 6
    pool = next(iter(run["quantiles"].values()))
    assert len(pool["median"]) == 7
    listed = c.get("/api/v1/forecasts", headers=pm).json()["items"]
    assert [f["run_id"] for f in listed] == [run["run_id"]]
    assert c.get(f"/api/v1/forecasts/{run['run_id']}", headers=pm).json()["kind"] == "forecast"
    assert c.get(f"/api/v1/runs/{run['run_id']}/report", headers=pm).status_code == 200
    assert c.get(f"/api/v1/experiments/{run['run_id']}", headers=pm).status_code == 404
    capped = c.post("/api/v1/forecasts", json={**body, "replications": 5000}, headers=pm)
    assert capped.status_code == 422
    path = c.post(
        "/api/v1/forecasts",
        json={**body, "model": str(example_path("reference-hospital"))},
        headers=pm,
    )
    assert path.status_code == 400  # a model is named among the examples, never a server path
    broken = c.post("/api/v1/forecasts", json={**body, "state": {"pools": 3}}, headers=pm)
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_state"
    viewer = bearer(token_for(workspace, "viewer"))
    assert c.post("/api/v1/forecasts", json=body, headers=viewer).status_code == 403


def test_experiments_on_record_are_listed_and_shown(workspace: Workspace) -> None:
    spec = spec_from_data(
        {
            "model": "reference-hospital",
            "replications": 2,
            "run": {"run_days": 2, "warmup_days": 0},
        }
    )
    done = run_experiment(ServiceContext(workspace, ADMIN), spec, workers=1, report=False)
    c = client(workspace)
    viewer = bearer(token_for(workspace, "viewer"))
    listed = c.get("/api/v1/experiments", headers=viewer).json()
    assert [e["run_id"] for e in listed["items"]] == [done.run_id]
    shown = c.get(f"/api/v1/experiments/{done.run_id}", headers=viewer).json()
    assert shown["kind"] == "experiment" and "baseline" in shown["outputs"]["variants"]
    missing = c.get("/api/v1/experiments/sim-nope", headers=viewer)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "run_not_found"
