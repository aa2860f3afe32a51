"""``caretwin calibrate``: fit a twin definition's parameters from the workspace's lake.

The table printed puts every fitted value next to the template's, so an analyst sees at a glance
what the data changed (and the ``n`` behind each value) before anyone simulates the new model.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table

if TYPE_CHECKING:
    from caretwin.services.calibration import CalibrationReport

_DATE_FORMATS = ["%Y-%m-%d"]


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _print_table(report: CalibrationReport) -> None:
    print_table(
        [Column("parameter", fit="start")]
        + [Column(c, justify="right", fit="wrap") for c in ("template", "fitted")]
        + [Column("n", justify="right")],
        [[row.name, row.template, row.fitted, f"{row.n:,}"] for row in report.parameters],
        title=(
            f"{report.model} {report.model_version}: fitted on "
            f"[{report.date_from}, {report.date_to})"
        ),
    )


def calibrate_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the calibrated model YAML."),
    date_from: datetime | None = typer.Option(
        None, "--from", formats=_DATE_FORMATS, help="First day of the window (UTC, inclusive)."
    ),
    date_to: datetime | None = typer.Option(
        None, "--to", formats=_DATE_FORMATS, help="End of the window (UTC, exclusive)."
    ),
    template: str | None = typer.Option(
        None,
        "--template",
        help="Model whose structure is kept (file or example name; default: reference-hospital).",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Fit arrival rates, durations, routing, capacities and device reliability from the lake."""
    from caretwin.services.calibration import calibrate
    from caretwin.services.context import ServiceContext
    from caretwin.services.models import resolve_model_path

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        tmpl = resolve_model_path(template) if template else None
        report = calibrate(ctx, out, _day(date_from), _day(date_to), tmpl)
        if fmt == OutputFormat.json:
            print_json(report.to_dict())
            return
        _print_table(report)
        typer.echo(
            f"wrote {report.out} (model {report.model_hash[:12]}, data "
            f"{report.data_snapshot_hash[:12]}); run {report.run_id}"
        )


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate_cmd)
