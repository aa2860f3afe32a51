"""Scheduled jobs: ``GET``/``POST /api/v1/schedules``, ``DELETE /api/v1/schedules/{name}``.

A schedule queues a job of its kind on a cron expression, as its owner (the caller who added
it), with the owner's roles when it fires; ``docs/jobs.md`` has the semantics.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.access import Permission
from caretwin.api.deps import Requires, RunsRead
from caretwin.services.context import ServiceContext
from caretwin.services.schedules import add_schedule, list_schedules, remove_schedule

router = APIRouter(tags=["schedules"])

SchedulesManage = Annotated[ServiceContext, Depends(Requires(Permission.SCHEDULES_MANAGE))]


class ScheduleRequest(BaseModel):
    name: str = Field(description="letters, digits, '.', '_', '-'")
    cron: str = Field(description="a cron expression, e.g. '0 2 * * *'")
    kind: str = Field(description="a job kind: simulate, pull, calibrate, ...")
    params: dict[str, Any] = Field(default_factory=dict, description="the kind's parameters")
    timezone: str = Field(default="UTC", description="the zone the cron expression is read in")


@router.get("/schedules")
def schedules(ctx: RunsRead) -> JSONResponse:
    """Every schedule of the workspace, with its next due time."""
    return JSONResponse({"items": [s.to_dict() for s in list_schedules(ctx)]})


@router.post("/schedules", status_code=201)
def add(body: ScheduleRequest, ctx: SchedulesManage) -> JSONResponse:
    """Add a schedule owned by the caller (who needs the kind's permission too)."""
    added = add_schedule(ctx, body.name, body.cron, body.kind, body.params, timezone=body.timezone)
    return JSONResponse(
        added.to_dict(), status_code=201, headers={"location": f"/api/v1/schedules/{added.name}"}
    )


@router.delete("/schedules/{name}")
def remove(name: str, ctx: SchedulesManage) -> JSONResponse:
    """Remove a schedule (the owner's, or anyone's for an admin)."""
    return JSONResponse(remove_schedule(ctx, name).to_dict())
