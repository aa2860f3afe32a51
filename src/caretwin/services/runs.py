"""Service operations over the run record (audited, permission-checked)."""

from __future__ import annotations

from caretwin.access import Permission
from caretwin.runs.manifest import Manifest
from caretwin.runs.recorder import RunSummary, get_run, list_runs
from caretwin.services.context import ServiceContext

__all__ = ["list_runs_op", "show_run_op"]


def list_runs_op(
    ctx: ServiceContext, kind: str | None = None, limit: int | None = None
) -> list[RunSummary]:
    with ctx.operation("runs.list", Permission.RUNS_READ, kind or "*") as op:
        runs = list_runs(ctx.workspace, kind=kind, limit=limit)
        op.details["count"] = len(runs)
        return runs


def show_run_op(ctx: ServiceContext, run_id: str) -> Manifest:
    with ctx.operation("runs.show", Permission.RUNS_READ, run_id):
        return get_run(ctx.workspace, run_id)
