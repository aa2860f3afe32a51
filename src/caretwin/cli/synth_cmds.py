"""``caretwin synth``: write a synthetic hospital's FHIR R4 and CMMS data from a model."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table
from caretwin.errors import ConfigError


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--start-date must be a date like 2025-01-06, not {text!r}") from None


def synth_cmd(
    model: str = typer.Option(
        ..., "--model", "-m", help="Model YAML file, or a shipped example's name."
    ),
    days: int = typer.Option(..., "--days", "-d", min=1, help="Days of data to write."),
    seed: int = typer.Option(..., "--seed", min=0, help="Seed: same seed, same bytes."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the files to."),
    start_date: str | None = typer.Option(
        None,
        "--start-date",
        # Spelled out rather than read from caretwin.synth, which would load the engine for --help.
        help="Date of the first day of data; must be a Monday (sim time 0 is a Monday). "
        "Default: 2025-01-06.",
        show_default=False,
    ),
    warmup_days: float | None = typer.Option(
        None,
        "--warmup-days",
        min=0,
        help="Days simulated before the data start (default: model's).",
    ),
    scenario: str | None = typer.Option(
        None, "--scenario", "-s", help="Apply a named scenario of the model first."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Simulate a model as ground truth and write its EHR (FHIR R4 NDJSON) and CMMS data."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.synth import synthesize
    from caretwin.synth import DEFAULT_START_DATE

    with cli_errors(fmt):
        start = DEFAULT_START_DATE if start_date is None else _parse_date(start_date)
        ctx = ServiceContext.for_cli(workspace)
        report = synthesize(
            ctx,
            model,
            days=days,
            seed=seed,
            out_dir=out,
            start_date=start,
            warmup_days=warmup_days,
            scenario=scenario,
        )
        if fmt == OutputFormat.json:
            print_json(report.to_dict())
            return
        print_table(
            [Column("file"), Column("records", justify="right")],
            [[name, f"{n:,}"] for name, n in report.records.items()],
            title=f"{report.model_name} — {report.days} days, seed {report.seed}",
        )
        typer.echo(
            f"window {report.window_start} .. {report.window_end} "
            f"(warm-up {report.warmup_days:g} days); {report.trace_events:,} events "
            f"in {report.seconds:.1f} s"
        )
        typer.echo(f"written to {report.out_dir}")


def register(app: typer.Typer) -> None:
    app.command("synth")(synth_cmd)
