"""The forecast service and CLI: recorded run, page, reproduction, audit, errors."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.cli.app import app
from caretwin.errors import AccessDenied
from caretwin.runs import get_run
from caretwin.services.context import ServiceContext
from caretwin.services.forecast import capture_state, forecast
from caretwin.services.reproduce import reproduce
from caretwin.workspace import Workspace

runner = CliRunner()
ADMIN = Actor("root", frozenset({"admin"}))


def test_forecast_is_recorded_and_reproduces_bit_for_bit(workspace: Workspace) -> None:
    ctx = ServiceContext(workspace, ADMIN)
    st = capture_state(ctx, "reference-hospital", 24 * 30 + 9.5, seed=3)
    run = forecast(ctx, "reference-hospital", st, 12, replications=20, seed=5, workers=1)
    m = get_run(workspace, run.run_id)
    assert m.kind == "forecast" and m.status == "succeeded"
    q = m.outputs["quantiles"]["ward_bed"]
    shown = run.to_dict()
    assert {k: shown[k] for k in m.outputs} == m.outputs  # the result carries what was recorded
    assert len(q["median"]) == 13 and all(a <= b for a, b in zip(q["p05"], q["p95"], strict=True))
    page = (run.run_dir / "forecast.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in page and 'src="http' not in page
    assert (run.run_dir / "state.json").exists() and (run.run_dir / "model.yaml").exists()
    again = reproduce(ctx, run.run_id)
    assert again.identical, again.differences
    (event,) = ctx.audit.list(action="forecast.run")
    assert event.outcome == "ok" and event.details["run_id"] == run.run_id
    assert set(event.details) == {"model_hash", "state_hash", "patients", "run_id"}


def test_viewer_may_not_forecast(workspace: Workspace) -> None:
    ctx = ServiceContext(workspace, Actor("vic", frozenset({"viewer"})))
    with pytest.raises(AccessDenied):
        forecast(ctx, "reference-hospital", {"hour_of_week": 0}, 2)


def test_cli_forecast_state_then_forecast(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    state = tmp_path / "state.json"
    r = runner.invoke(
        app,
        ["forecast-state", "reference-hospital", "--at", "800.5", "-o", str(state), "-w", str(ws)],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        ["forecast", "reference-hospital", "--state", str(state), "--hours", "6", "--reps", "10",
         "--workers", "1", "--format", "json", "-w", str(ws)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["hours"] == 6 and set(out["quantiles"]) >= {"ed_space", "ward_bed"}
    assert Path(out["report"]).exists()
    r = runner.invoke(
        app,
        ["forecast", "reference-hospital", "--state", str(state), "--hours", "6", "--reps", "5",
         "--workers", "1", "--no-report", "-w", str(ws)],
    )  # fmt: skip
    assert r.exit_code == 0 and "ward_bed" in r.output


def test_cli_bad_state_is_a_clear_error(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    runner.invoke(app, ["init", str(ws)])
    bad = tmp_path / "bad.json"
    bad.write_bytes(
        orjson.dumps(
            {"hour_of_week": 3, "patients": [{"step": "ed.ward", "status": "in_service",
             "elapsed_h": 5, "holds": ["ward_bed"], "count": 500}]}
        )
    )  # fmt: skip
    r = runner.invoke(
        app,
        ["forecast", "reference-hospital", "--state", str(bad), "--format", "json", "-w", str(ws)],
    )
    assert r.exit_code == 4
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "invalid_state"
    assert err["details"]["problems"][0]["path"] == "resources.ward_bed"
    assert "Traceback" not in r.output
