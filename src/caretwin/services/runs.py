"""Service operations over the run record (audited, permission-checked)."""

from __future__ import annotations

from pathlib import Path

from caretwin.access import Permission
from caretwin.errors import RunNotFound
from caretwin.runs.manifest import Manifest
from caretwin.runs.recorder import RunSummary, get_run, list_runs
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult

__all__ = ["RunReport", "list_runs_op", "run_report_op", "show_run_op"]


class RunReport(ServiceResult):
    """Where a run's self-contained HTML report is."""

    run_id: str
    path: Path


def list_runs_op(
    ctx: ServiceContext, kind: str | None = None, limit: int | None = None, after: str | None = None
) -> list[RunSummary]:
    """Runs, newest first; ``after``: the last run id of the previous page."""
    with ctx.operation("runs.list", Permission.RUNS_READ, kind or "*") as op:
        runs = list_runs(ctx.workspace, kind=kind, limit=limit, after=after)
        op.details["count"] = len(runs)
        return runs


def show_run_op(ctx: ServiceContext, run_id: str, kind: str | None = None) -> Manifest:
    """The manifest of ``run_id``; with ``kind``, a run of another kind is not found either."""
    with ctx.operation("runs.show", Permission.RUNS_READ, run_id):
        manifest = get_run(ctx.workspace, run_id)
        if kind is not None and manifest.kind != kind:
            raise RunNotFound(f"no {kind} run {run_id}", details={"run_id": run_id, "kind": kind})
        return manifest


def run_report_op(ctx: ServiceContext, run_id: str) -> RunReport:
    """The report of ``run_id``; :class:`RunNotFound` if the run has none (or it is gone)."""
    with ctx.operation("runs.report", Permission.RUNS_READ, run_id):
        manifest = get_run(ctx.workspace, run_id)
        path = Path(manifest.report_path) if manifest.report_path else None
        if path is None or not path.is_file():
            raise RunNotFound(f"run {run_id} has no report", details={"run_id": run_id})
        return RunReport(run_id=run_id, path=path)
