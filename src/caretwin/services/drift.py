"""The drift check: the recent data against the newest calibration's parameter uncertainty.

Called by ``caretwin ingest`` after each ingest, and on its own; the statistics are
:mod:`caretwin.validation.drift`. It reads patient-level data (the lake), hence ``data.read``.
"""

from __future__ import annotations

from datetime import date

from caretwin.access import Permission
from caretwin.model import load_definition
from caretwin.runs import list_runs, run_dir
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult

__all__ = ["DriftCheck", "DriftFinding", "check_drift"]

MODEL_FILE = "model.yaml"  # the calibrated definition a calibration run keeps


class DriftFinding(ServiceResult):
    """One parameter checked: calibrated and recent value (mean rate per hour, mean duration in
    hours, or the first branch's share), recent observations, p-value, whether it moved."""

    parameter: str
    calibrated: float
    recent: float
    n: int
    pvalue: float
    moved: bool
    detail: str


class DriftCheck(ServiceResult):
    """Whether the data after the calibration window moved away from the calibrated
    parameters; ``message`` names what moved and recommends recalibrating."""

    calibration_run: str | None
    model_hash: str | None
    date_from: date | None
    date_to: date | None
    alert: bool
    message: str
    findings: list[DriftFinding]


def check_drift(ctx: ServiceContext, calibration_run: str | None = None) -> DriftCheck:
    """Check the lake's recent data against a calibration (default: the newest finished one)."""
    with ctx.operation(
        "model.drift", Permission.DATA_READ, target=calibration_run or "newest calibration"
    ) as op:
        run_id = calibration_run
        if run_id is None:
            done = [
                r for r in list_runs(ctx.workspace, kind="calibrate") if r.status == "succeeded"
            ]
            run_id = done[0].run_id if done else None
        if run_id is None or not (run_dir(ctx.workspace, run_id) / MODEL_FILE).exists():
            op.details["alert"] = False
            return DriftCheck(
                calibration_run=None,
                model_hash=None,
                date_from=None,
                date_to=None,
                alert=False,
                message="no calibration in this workspace: nothing to check drift against",
                findings=[],
            )
        from caretwin.calibrate.extract import extract
        from caretwin.lake import Lake
        from caretwin.validation.drift import check_drift as compute

        defn = load_definition(run_dir(ctx.workspace, run_id) / MODEL_FILE)
        res = compute(extract(Lake(ctx.workspace.lake_dir)), defn)
        op.details.update(
            calibration_run=run_id, alert=res.alert, moved=[i.parameter for i in res.moved]
        )
        return DriftCheck(
            calibration_run=run_id,
            model_hash=defn.content_hash(),
            date_from=res.date_from,
            date_to=res.date_to,
            alert=res.alert,
            message=res.message(),
            findings=[
                DriftFinding(
                    parameter=i.parameter,
                    calibrated=i.calibrated,
                    recent=i.recent,
                    n=i.n,
                    pvalue=i.pvalue,
                    moved=i.moved,
                    detail=i.detail,
                )
                for i in res.items
            ],
        )
