"""``caretwin forecast``: census forecasts from a current state; ``forecast-state`` makes one.

``forecast`` prints, per pool, the median and the 50% and 90% prediction intervals of units held
at every ``--every`` hours, and writes a self-contained fan-chart page in the run folder.
``forecast-state`` captures the state of a simulated replication at a given hour, a realistic
file to start from and to edit into the hospital's real state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
    progress_bar,
)
from caretwin.cli.model_cmds import MODEL_ARGUMENT
from caretwin.cli.tables import Column, print_table

if TYPE_CHECKING:
    from caretwin.services.forecast import ForecastRun


def _rows(run: ForecastRun, every: int) -> list[list[str]]:
    """Hours 0, every, 2·every, ... and the last, with "median [p25–p75] (p05–p95)" cells."""
    rows = []
    for h in sorted({*range(0, run.hours + 1, max(1, every)), run.hours}):
        cells = [str(h)]
        for s in run.quantiles.values():
            cells.append(
                f"{s['median'][h]:.0f} [{s['p25'][h]:.0f}–{s['p75'][h]:.0f}] "
                f"({s['p05'][h]:.0f}–{s['p95'][h]:.0f})"
            )
        rows.append(cells)
    return rows


def _print_table(run: ForecastRun, every: int) -> None:
    start = run.as_of or f"hour {run.start_hour_of_week:g} of the week"
    print_table(
        [Column("hour", justify="right")]
        + [
            Column(f"{name}\n(cap {cap})", justify="right", fit="wrap")
            for name, cap in run.capacity.items()
        ],
        _rows(run, every),
        title=f"{run.model} ({run.scenario}) — census forecast, {run.replications} "
        f"replications, from {start}",
        caption="units held at each hour mark: median [50% interval] (90% interval)",
    )


def forecast_cmd(
    model: str = MODEL_ARGUMENT,
    state: Path = typer.Option(..., "--state", help="State JSON file (see docs/forecast.md)."),
    hours: int = typer.Option(48, "--hours", min=1, max=24 * 28, help="Hours ahead."),
    reps: int = typer.Option(500, "--reps", "-r", min=1, help="Replications."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Root seed (default: model's)."),
    scenario: str = typer.Option("baseline", "--scenario", "-s", help="Scenario to forecast."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Local worker processes (default: all cores)."
    ),
    every: int = typer.Option(6, "--every", min=1, help="Table rows every N hours."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML page."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Forecast the census of every pool from a current state (median, 50% and 90% intervals)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.forecast import forecast

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)

        def run_forecast(progress: Callable[[int], None] | None) -> ForecastRun:
            return forecast(
                ctx, model, state, hours, replications=reps, seed=seed, scenario=scenario,
                workers=workers, report=not no_report, progress=progress,
            )  # fmt: skip

        if fmt == OutputFormat.json:
            print_json(run_forecast(None).to_dict())
            return
        with progress_bar() as bar:
            task = bar.add_task("replications", total=reps)
            run = run_forecast(lambda n: bar.advance(task, n))
        _print_table(run, every)
        typer.echo(f"{run.wall_seconds:.1f} s; run {run.run_id}")
        if run.report:
            typer.echo(f"report: {run.report}")


def forecast_state_cmd(
    model: str = MODEL_ARGUMENT,
    at: float = typer.Option(..., "--at", min=0, help="Hours since the run's Monday 00:00."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the state JSON."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Seed of the replication."),
    scenario: str = typer.Option("baseline", "--scenario", "-s", help="Scenario to simulate."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Write the state of a simulated replication at hour ``--at`` (a state to forecast from)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.forecast import write_state

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        written = write_state(ctx, model, at, out, seed=seed, scenario=scenario)
        if fmt == OutputFormat.json:
            print_json(written.to_dict())
        else:
            hour = f"{written.hour_of_week:g}" if written.hour_of_week is not None else "?"
            Console(soft_wrap=True).print(
                f"{written.patients} patients, {written.devices_out} devices out, hour "
                f"{hour} of the week -> {written.path}"
            )


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_cmd)
    app.command("forecast-state")(forecast_state_cmd)
