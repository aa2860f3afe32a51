"""Recorded runs: list (paginated), show, manifest, report."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from caretwin.api.deps import RunsRead
from caretwin.api.pagination import Cursor, Limit, decode_cursor, page
from caretwin.errors import ConfigError
from caretwin.reports.csp import report_csp
from caretwin.services.runs import list_runs_op, run_report_op, show_run_op

router = APIRouter(tags=["runs"])


@router.get("/runs")
def runs(
    ctx: RunsRead, cursor: Cursor = None, limit: Limit = 50, kind: str | None = None
) -> JSONResponse:
    """Runs, newest first (``kind``: only ``simulate``, ``experiment``, ...); follow
    ``next_cursor`` for the next page."""
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page")
    found = list_runs_op(ctx, kind=kind, limit=limit + 1, after=after)
    return JSONResponse(page(found, limit, key=lambda r: r.run_id))


@router.get("/runs/{run_id}")
def run(run_id: str, ctx: RunsRead) -> JSONResponse:
    """A run's manifest (status, parameters, outputs)."""
    return JSONResponse(show_run_op(ctx, run_id).model_dump(mode="json"))


@router.get("/runs/{run_id}/manifest")
def manifest(run_id: str, ctx: RunsRead) -> JSONResponse:
    """The run's ``manifest.json`` as recorded: what reproducing it needs."""
    return JSONResponse(show_run_op(ctx, run_id).model_dump(mode="json"))


@router.get("/runs/{run_id}/report", response_class=HTMLResponse)
def report(run_id: str, ctx: RunsRead) -> HTMLResponse:
    """The run's self-contained HTML report, under a hash-based CSP in a sandbox."""
    found = run_report_op(ctx, run_id)
    html = found.path.read_bytes()
    return HTMLResponse(html, headers={"content-security-policy": report_csp(html)})
