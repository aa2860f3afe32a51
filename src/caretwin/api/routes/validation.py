"""Validation: plans, runs and their scorecards, the verification suite, evidence with sign-off,
stored forecasts against what happened (docs/validation.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.access import Permission
from caretwin.api.deps import ModelRead, Requires, RunsRead
from caretwin.api.pagination import Cursor, Limit, decode_cursor, page
from caretwin.errors import ConfigError
from caretwin.services.context import ServiceContext
from caretwin.services.job_params import ValidationParams
from caretwin.services.jobs import submit_job
from caretwin.services.runs import list_runs_op
from caretwin.services.validation import (
    add_evidence,
    forecast_validation,
    get_scorecard,
    list_evidence,
    sign_evidence,
    verify_model,
)
from caretwin.validation import plan_names, plan_schema, scorecard_schema

router = APIRouter(tags=["validation"])

Validate = Annotated[ServiceContext, Depends(Requires(Permission.VALIDATE))]
EvidenceSign = Annotated[ServiceContext, Depends(Requires(Permission.EVIDENCE_SIGN))]


class VerifyRequest(BaseModel):
    model: str = Field(description="an example model's name (GET /api/v1/examples)")
    rho: float = Field(0.85, gt=0, lt=1)
    replications: int = Field(10, ge=2, le=100)


class EvidenceRequest(BaseModel):
    kind: Literal["face_validity", "cross_model", "verification"]
    title: str = Field(min_length=1, max_length=500)
    model: str = Field(min_length=1, max_length=200)
    findings: str = Field(min_length=1, max_length=100_000)
    model_version: str | None = None


class SignRequest(BaseModel):
    statement: str = Field(min_length=1, max_length=5_000)


@router.get("/validation/plans")
def plans(ctx: ModelRead) -> JSONResponse:
    """The validation plans shipped with CareTwin."""
    return JSONResponse({"items": [{"name": n} for n in plan_names()], "next_cursor": None})


@router.get("/validation/schema")
def schema(ctx: ModelRead, of: Literal["plan", "scorecard"] = "plan") -> JSONResponse:
    """The JSON Schema of the plan format (``?of=scorecard``: of the scorecard)."""
    return JSONResponse(scorecard_schema() if of == "scorecard" else plan_schema())


@router.get("/validation/runs")
def runs(ctx: RunsRead, cursor: Cursor = None, limit: Limit = 50) -> JSONResponse:
    """Validation runs, newest first (their scorecards: ``/validation/runs/{id}``)."""
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page")
    found = list_runs_op(ctx, kind="validation", limit=limit + 1, after=after)
    return JSONResponse(page(found, limit, key=lambda r: r.run_id))


@router.post("/validation/runs", status_code=202)
def run(body: ValidationParams, request: Request, ctx: Validate) -> JSONResponse:
    """Queue a validation run (a shipped plan, or ``plan_yaml``) as a job: 202 with the job's
    URL in ``Location``; once done, its ``run_id`` names the scorecard."""
    job = submit_job(ctx, "validation", body.model_dump(mode="json"))
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    out = job.to_dict()
    out["url"] = str(request.url_for("job", job_id=job.job_id).path)
    return JSONResponse(out, status_code=202, headers={"location": str(out["url"])})


@router.get("/validation/runs/{run_id}")
def scorecard(run_id: str, ctx: RunsRead) -> JSONResponse:
    """A validation run's scorecard."""
    return JSONResponse(get_scorecard(ctx, run_id).to_dict())


@router.post("/validation/verify")
def verify(body: VerifyRequest, ctx: Validate) -> JSONResponse:
    """The verification suite (Erlang C, Little's law) on an example model's pools."""
    from caretwin.model import example_names

    if body.model not in example_names():
        raise ConfigError(f"unknown model {body.model!r}; one of: {', '.join(example_names())}")
    out = verify_model(ctx, body.model, rho=body.rho, replications=body.replications)
    return JSONResponse(out.to_dict())


@router.get("/validation/evidence")
def evidence(ctx: RunsRead, model: str | None = None) -> JSONResponse:
    """Evidence records (whole list), oldest first, with their sign-offs."""
    items = [r.to_dict() for r in list_evidence(ctx, model)]
    return JSONResponse({"items": items, "next_cursor": None})


@router.post("/validation/evidence", status_code=201)
def add(body: EvidenceRequest, ctx: Validate) -> JSONResponse:
    """Record evidence (unsigned)."""
    rec = add_evidence(
        ctx, body.kind, body.title, body.model, body.findings, model_version=body.model_version
    )
    return JSONResponse(rec.to_dict(), status_code=201)


@router.post("/validation/evidence/{evidence_id}/sign")
def sign(evidence_id: str, body: SignRequest, ctx: EvidenceSign) -> JSONResponse:
    """Sign a record as the token's user (their full name is recorded)."""
    return JSONResponse(sign_evidence(ctx, evidence_id, body.statement).to_dict())


@router.get("/validation/forecasts")
def forecasts(ctx: RunsRead) -> JSONResponse:
    """Stored forecasts against what the lake has seen since."""
    return JSONResponse(forecast_validation(ctx).to_dict())
