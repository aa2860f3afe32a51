"""Validation: the validation runs on record and each run's scorecard (docs/validation.md)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from caretwin.reports.scorecard import scorecard_html
from caretwin.services.runs import list_runs_op
from caretwin.services.validation import get_scorecard, list_evidence
from caretwin.web.deps import RunsPage
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50


@router.get("/validation")
def validation(page: RunsPage) -> Response:
    runs = list_runs_op(page.ctx, kind="validation", limit=PAGE_SIZE)
    evidence = list_evidence(page.ctx)
    return render(page, "validation.html", title="Validation", runs=runs, evidence=evidence)


@router.get("/validation/{run_id}")
def scorecard(page: RunsPage, run_id: str) -> Response:
    found = get_scorecard(page.ctx, run_id)
    return render(
        page, "validation_run.html", title=f"Scorecard {run_id}", run=found,
        body=scorecard_html(found.scorecard),
    )  # fmt: skip
