"""Saved scenarios through the HTTP API and the CLI: the same services, rendered."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api_helpers import bearer, client, token_for
from typer.testing import CliRunner

from caretwin.cli.app import app
from caretwin.services.jobs import run_next_job
from caretwin.workspace import Workspace


def test_scenarios_over_the_api(workspace: Workspace) -> None:
    c = client(workspace)
    clin = bearer(token_for(workspace, "clinician"))
    viewer = bearer(token_for(workspace, "viewer"))
    params = c.get("/api/v1/models/reference-hospital/parameters", headers=viewer).json()
    paths = {p["path"]: p for p in params["parameters"]}
    assert paths["resources.icu_bed.capacity"]["value"] == 16
    assert params["groups"]["capacity"] == "Capacities"
    models = c.get("/api/v1/models", headers=viewer).json()["items"]
    assert "reference-hospital" in [m["key"] for m in models]

    body = {"name": "icu20", "model": "reference-hospital", "overrides": {}}
    body["overrides"] = {"resources.icu_bed.capacity": -3}
    bad = c.post("/api/v1/scenarios", json=body, headers=clin)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["problems"][0]["path"] == "resources.icu_bed.capacity"
    body["overrides"] = {"resources.icu_bed.capacity": 20}
    assert c.post("/api/v1/scenarios", json=body, headers=viewer).status_code == 403
    r = c.post("/api/v1/scenarios", json=body, headers=clin)
    assert r.status_code == 201 and r.json()["ref"] == "icu20@v1"
    assert c.get("/api/v1/scenarios/icu20", headers=viewer).json()["author"] == "u-clinician"
    assert c.get("/api/v1/scenarios/nope", headers=viewer).status_code == 404
    assert [s["name"] for s in c.get("/api/v1/scenarios", headers=viewer).json()["items"]] == [
        "icu20"
    ]

    sim = {"model": "reference-hospital", "saved": ["icu20"], "replications": 2}
    sim |= {"run_days": 1, "warmup_days": 0}
    job = c.post("/api/v1/simulations", json=sim, headers=clin).json()
    assert job["params"]["saved"] == {"icu20@v1": {"resources.icu_bed.capacity": 20}}  # pinned
    done = run_next_job(workspace)
    assert done is not None and done.status == "done", done
    cmp = c.get(f"/api/v1/runs/{done.run_id}/comparison", headers=viewer).json()
    assert [s["scenario"] for s in cmp["scenarios"]] == ["icu20@v1"]
    kpi = cmp["scenarios"][0]["kpis"][0]
    assert {"baseline_mean", "scenario_mean", "difference_ci95", "excludes_zero"} <= set(kpi)

    assert c.delete("/api/v1/scenarios/icu20", headers=clin).json()["archived"] is True
    refused = c.post("/api/v1/simulations", json=sim, headers=clin)
    assert refused.status_code == 400 and "archived" in refused.json()["error"]["message"]


def test_scenarios_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    w = ["-w", str(ws)]
    r = runner.invoke(app, ["scenarios", "params", "reference-hospital", *w])
    assert r.exit_code == 0 and "resources.icu_bed.capacity" in r.stdout
    r = runner.invoke(
        app,
        [
            "scenarios",
            "save",
            "fast_ct",
            "-m",
            "reference-hospital",
            *w,
            "--set",
            "pathways.ed.steps.ct_scan.duration.mean=0.25",
            "--note",
            "new scanner",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "scenarios",
            "save",
            "bad",
            "-m",
            "reference-hospital",
            "--set",
            "arrivals.ed.multiplier=-1",
            *w,
        ],
    )
    assert r.exit_code == 3 and "arrivals.ed.multiplier" in r.output
    r = runner.invoke(app, ["scenarios", "show", "fast_ct", "--format", "json", *w])
    shown = json.loads(r.stdout)[0]
    assert shown["overrides"] == {"pathways.ed.steps.ct_scan.duration.mean": 0.25}
    r = runner.invoke(app, ["scenarios", "list", *w])
    assert "fast_ct" in r.stdout and "new scanner" in r.stdout
    assert runner.invoke(app, ["scenarios", "delete", "fast_ct", *w]).exit_code == 0
    r = runner.invoke(app, ["scenarios", "list", "--format", "json", *w])
    assert json.loads(r.stdout) == []
