"""Models people simulate by name, the parameters a scenario may change, saved scenarios, and
a run's scenarios compared with its baseline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.api.deps import ModelRead, RunsRead, ScenariosEdit
from caretwin.services.comparison import run_comparison
from caretwin.services.models import list_models
from caretwin.services.scenarios import (
    archive_scenario,
    list_saved_scenarios,
    model_parameters,
    save_scenario,
    show_saved_scenario,
)

router = APIRouter(tags=["scenarios"])


class ScenarioRequest(BaseModel):
    name: str = Field(max_length=64, description="the scenario's name; saving again adds a version")
    model: str = Field(max_length=200, description="a model's key (GET /api/v1/models)")
    overrides: dict[str, Any] = Field(
        max_length=200,
        description="parameter path -> new value (GET /api/v1/models/{model}/parameters)",
    )
    description: str = Field("", max_length=2000)
    note: str = Field("", max_length=2000, description="why this version")


@router.get("/models")
def models(ctx: ModelRead) -> JSONResponse:
    """Models that may be simulated by name: shipped examples and the workspace's own."""
    return JSONResponse({"items": [m.to_dict() for m in list_models(ctx)]})


@router.get("/models/{model}/parameters")
def parameters(model: str, ctx: ModelRead) -> JSONResponse:
    """The parameters of a model a scenario may change: path, value, unit, bounds, group."""
    return JSONResponse(model_parameters(ctx, model).to_dict())


@router.get("/scenarios")
def scenarios(ctx: ModelRead, model: str | None = None, archived: bool = False) -> JSONResponse:
    """Saved scenarios (latest version of each), of ``model`` when given."""
    found = list_saved_scenarios(ctx, model, include_archived=archived)
    return JSONResponse({"items": [s.to_dict() for s in found]})


@router.post("/scenarios", status_code=201)
def save(body: ScenarioRequest, ctx: ScenariosEdit) -> JSONResponse:
    """Save a new version of a scenario; invalid overrides: 422 naming each path."""
    saved = save_scenario(
        ctx, body.name, body.model, body.overrides, description=body.description, note=body.note
    )
    return JSONResponse(saved.to_dict(), status_code=201)


@router.get("/scenarios/{name}")
def scenario(
    name: str, ctx: ModelRead, version: int | None = Query(default=None, ge=1)
) -> JSONResponse:
    """A saved scenario: its latest version, or ``version``."""
    return JSONResponse(show_saved_scenario(ctx, name, version).to_dict())


@router.delete("/scenarios/{name}")
def archive(name: str, ctx: ScenariosEdit) -> JSONResponse:
    """Archive a saved scenario (adds an archived version; history stays readable)."""
    return JSONResponse(archive_scenario(ctx, name).to_dict())


@router.get("/runs/{run_id}/comparison")
def comparison(run_id: str, ctx: RunsRead) -> JSONResponse:
    """Each scenario of a simulation run against its baseline: means with 95% CIs and the
    paired difference with its 95% CI, and whether that interval excludes 0."""
    return JSONResponse(run_comparison(ctx, run_id).to_dict())
