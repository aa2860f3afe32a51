"""Recorded experiments and forecasts; a short forecast computed in the request.

Running an experiment is a background job (``POST /api/v1/experiments``, the jobs routes);
a forecast of at most :data:`MAX_FORECAST_REPLICATIONS` replications and
:data:`MAX_FORECAST_HOURS` hours takes seconds on one core, so it answers in the request.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.api.deps import RunsRead, Simulate
from caretwin.api.pagination import Cursor, Limit, decode_cursor, page
from caretwin.errors import ConfigError
from caretwin.services.runs import list_runs_op, show_run_op

router = APIRouter(tags=["experiments"])

MAX_FORECAST_REPLICATIONS = 200
MAX_FORECAST_HOURS = 168


def _runs(ctx: Any, kind: str, cursor: str | None, limit: int) -> JSONResponse:
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page")
    found = list_runs_op(ctx, kind=kind, limit=limit + 1, after=after)
    return JSONResponse(page(found, limit, key=lambda r: r.run_id))


@router.get("/experiments")
def experiments(ctx: RunsRead, cursor: Cursor = None, limit: Limit = 50) -> JSONResponse:
    """Experiment runs, newest first (``runs?kind=experiment``)."""
    return _runs(ctx, "experiment", cursor, limit)


@router.get("/experiments/{run_id}")
def experiment(run_id: str, ctx: RunsRead) -> JSONResponse:
    """An experiment's manifest: its spec, and in ``outputs`` every variant, comparison with
    the baseline, advisor and target search."""
    return JSONResponse(show_run_op(ctx, run_id, kind="experiment").model_dump(mode="json"))


@router.get("/forecasts")
def forecasts(ctx: RunsRead, cursor: Cursor = None, limit: Limit = 50) -> JSONResponse:
    """Forecast runs, newest first (``runs?kind=forecast``)."""
    return _runs(ctx, "forecast", cursor, limit)


@router.get("/forecasts/{run_id}")
def forecast_run(run_id: str, ctx: RunsRead) -> JSONResponse:
    """A forecast's manifest; ``outputs`` holds the census quantiles per pool."""
    return JSONResponse(show_run_op(ctx, run_id, kind="forecast").model_dump(mode="json"))


def _example(model: str) -> Any:
    # The API reads no file of the server's: a model is named among the examples.
    from caretwin.model import example_names, example_path

    if model not in example_names():
        raise ConfigError(
            f"unknown model {model!r}; one of: {', '.join(example_names())}",
            details={"model": model},
        )
    return example_path(model)


class ForecastRequest(BaseModel):
    model: str = Field(description="an example model's name (GET /api/v1/examples)")
    state: dict[str, Any] = Field(description="the current state (docs/forecast.md)")
    hours: int = Field(default=48, ge=1, le=MAX_FORECAST_HOURS)
    replications: int = Field(default=100, ge=1, le=MAX_FORECAST_REPLICATIONS)
    seed: int | None = Field(default=None, ge=0)
    scenario: str = "baseline"


@router.post("/forecasts", status_code=201)
def forecast(body: ForecastRequest, ctx: Simulate) -> JSONResponse:
    """Forecast the census of every pool from ``state`` (``caretwin forecast``), recorded as a
    run on one worker; its fan-chart page is ``GET /api/v1/runs/{run_id}/report``."""
    from caretwin.services.forecast import forecast as run_forecast
    from caretwin.sim.state import parse_state

    done = run_forecast(
        ctx,
        _example(body.model),
        parse_state(body.state),
        body.hours,
        replications=body.replications,
        seed=body.seed,
        scenario=body.scenario,
        workers=1,
    )
    return JSONResponse(done.to_dict(), status_code=201)


class StateRequest(BaseModel):
    model: str = Field(description="an example model's name")
    at: float = Field(ge=0, le=24 * 7 * 52, description="hours since the run's Monday 00:00")
    seed: int | None = Field(default=None, ge=0)
    scenario: str = "baseline"


@router.post("/forecast-states")
def forecast_state(body: StateRequest, ctx: Simulate) -> JSONResponse:
    """The state of a simulated replication at hour ``at`` (``caretwin forecast-state``), a
    state to forecast from; written nowhere."""
    from caretwin.services.forecast import capture_state

    state = capture_state(
        ctx, _example(body.model), body.at, seed=body.seed, scenario=body.scenario
    )
    return JSONResponse(state.model_dump(mode="json", exclude_none=True))
