"""Calibration as an audited, recorded service: fit a template on the lake, write the model.

Why both an audit event and a run record: the audit log answers *who* changed a model and when;
the run manifest (kind ``calibrate``) answers *how* — template hash, data snapshot hash, date
range, timings — so a calibrated model can be traced back and reproduced. The output file is
written atomically (temp file, then rename) so a failed calibration never leaves half a model.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from caretwin.access import Permission
from caretwin.calibrate import CalibrationResult, ParameterRow, calibrate_lake
from caretwin.calibrate.fitting import fitter_plugin_refs
from caretwin.errors import ConfigError, DataError
from caretwin.lake import Lake
from caretwin.model import REFERENCE_HOSPITAL, dump_definition, example_path, load_definition
from caretwin.runs import Manifest, RunRecorder
from caretwin.services.context import ServiceContext
from caretwin.services.reproduce import register_reproducer
from caretwin.services.results import ServiceResult

__all__ = ["MODEL_FILE", "CalibrationReport", "FittedParameter", "calibrate"]

MODEL_FILE = "model.yaml"


class FittedParameter(ServiceResult):
    """One fitted parameter next to the template's value and the ``n`` behind it."""

    name: str
    template: str
    fitted: str
    n: int

    @classmethod
    def of(cls, row: ParameterRow) -> FittedParameter:
        return cls(name=row.name, template=row.template, fitted=row.fitted, n=row.n)


class CalibrationReport(ServiceResult):
    """What a calibration produced: where, from which data, and each parameter's new value."""

    out: Path
    run_id: str
    model: str
    model_version: str
    model_hash: str
    template: str
    data_snapshot_hash: str
    date_from: date
    date_to: date
    parameters: list[FittedParameter]


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write the calibrated model to {path}: {exc.strerror}") from exc


def _outputs(result: CalibrationResult) -> dict[str, Any]:
    return {
        "model_hash": result.definition.content_hash(),
        "model_version": result.definition.version,
        "date_from": result.date_from.isoformat(),
        "date_to": result.date_to.isoformat(),
        "parameters": len(result.rows),
    }


def calibrate(
    ctx: ServiceContext,
    out: Path,
    date_from: date | None = None,
    date_to: date | None = None,
    template: Path | None = None,
) -> CalibrationReport:
    """Fit ``template`` (default: the built-in RH1 structure) on the workspace's lake."""
    template_path = template or example_path(REFERENCE_HOSPITAL)
    with ctx.operation("model.calibrate", Permission.CALIBRATE, target=str(out)) as op:
        tmpl = load_definition(template_path)
        lake = Lake(ctx.workspace.lake_dir)
        op.details.update(template=str(template_path), template_hash=tmpl.content_hash())
        with RunRecorder.start(
            ctx,
            "calibrate",
            tmpl.name,
            tmpl.content_hash(),
            parameters={
                "template": str(template_path),
                "date_from": date_from.isoformat() if date_from else None,
                "date_to": date_to.isoformat() if date_to else None,
                "out": str(out),
            },
            data_snapshot_hash=lake.data_hash(),
        ) as rec:
            op.details["run_id"] = rec.run_id
            with rec.timer("calibrate"):
                result = calibrate_lake(lake, tmpl, date_from, date_to)
            text = dump_definition(result.definition)
            (rec.run_dir / MODEL_FILE).write_text(text, encoding="utf-8")
            _write_atomic(out, text)
            model_hash = result.definition.content_hash()
            rec.manifest.plugins = fitter_plugin_refs()
            rec.finish({"model_file": str(out), **_outputs(result)})
        op.details.update(
            model_hash=model_hash,
            data_snapshot_hash=result.data_hash,
            date_from=result.date_from.isoformat(),
            date_to=result.date_to.isoformat(),
        )
    return CalibrationReport(
        out=out,
        run_id=rec.run_id,
        model=result.definition.name,
        model_version=result.definition.version,
        model_hash=model_hash,
        template=str(template_path),
        data_snapshot_hash=result.data_hash,
        date_from=result.date_from,
        date_to=result.date_to,
        parameters=[FittedParameter.of(row) for row in result.rows],
    )


def _reproduce(ctx: ServiceContext, original: Manifest) -> dict[str, Any]:
    """Fit again on the lake as it is; refuse if its data are no longer those of the run."""
    lake = Lake(ctx.workspace.lake_dir)
    if original.data_snapshot_hash and lake.data_hash() != original.data_snapshot_hash:
        raise DataError(
            "the lake has changed since this calibration; its data cannot be re-fitted",
            details={"recorded": original.data_snapshot_hash, "current": lake.data_hash()},
        )
    params = original.parameters
    tmpl = load_definition(Path(params["template"]))
    result = calibrate_lake(
        lake,
        tmpl,
        date.fromisoformat(params["date_from"]) if params.get("date_from") else None,
        date.fromisoformat(params["date_to"]) if params.get("date_to") else None,
    )
    return {"model_file": params["out"], **_outputs(result)}


register_reproducer("calibrate", _reproduce, permission=Permission.CALIBRATE)
