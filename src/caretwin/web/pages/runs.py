"""Runs: the list (paginated, newest first), a run's record and its report in a sandboxed frame."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from caretwin.reports.csp import report_csp
from caretwin.services.runs import list_runs_op, run_report_op, show_run_op
from caretwin.web.deps import RunsPage
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 25


@router.get("/runs")
def runs(
    page: RunsPage,
    after: str | None = Query(None, max_length=200),
    kind: str | None = Query(None, max_length=40),
) -> Response:
    found = list_runs_op(page.ctx, kind=kind or None, limit=PAGE_SIZE + 1, after=after or None)
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    return render(
        page, "runs.html", title="Runs", runs=found, kind=kind or "",
        next_after=found[-1].run_id if more and found else None, after=after,
    )  # fmt: skip


@router.get("/runs/{run_id}")
def run(page: RunsPage, run_id: str) -> Response:
    manifest = show_run_op(page.ctx, run_id)
    outputs = {k: v for k, v in manifest.outputs.items() if isinstance(v, str | int | float)}
    return render(
        page, "run.html", title=f"Run {run_id}", run=manifest, outputs=outputs,
        has_report=bool(manifest.report_path),
    )  # fmt: skip


@router.get("/runs/{run_id}/report")
def report(page: RunsPage, run_id: str) -> Response:
    """The run's self-contained report for the run page's frame: same sandboxing CSP as the
    API's, framed only by this site."""
    found = run_report_op(page.ctx, run_id)
    html = found.path.read_bytes()
    return HTMLResponse(
        html,
        headers={
            "content-security-policy": report_csp(html, frame_ancestors="'self'"),
            "x-frame-options": "SAMEORIGIN",
        },
    )
