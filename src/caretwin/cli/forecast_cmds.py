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
from caretwin.errors import DataError

if TYPE_CHECKING:
    from caretwin.services.forecast import ForecastRun


def _print_table(run: ForecastRun, every: int) -> None:
    from caretwin.forecast.report import table_rows

    res = run.result
    print_table(
        [Column("hour", justify="right")]
        + [
            Column(f"{name}\n(cap {cap})", justify="right", fit="wrap")
            for name, cap in zip(res.resources, res.capacities, strict=True)
        ],
        [list(row) for row in table_rows(res, every)],
        title=f"{res.model_name} ({res.scenario}) — census forecast, {res.replications} "
        f"replications, from {res.as_of or f'hour {res.start_hour:g} of the week'}",
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
            run = run_forecast(None)
            print_json(
                {
                    "run_id": run.run_id,
                    "model": run.result.model_name,
                    "replications": run.result.replications,
                    "seed": run.result.seed,
                    **run.outputs,
                    "report": str(run.page_path) if run.page_path else None,
                }
            )
            return
        with progress_bar() as bar:
            task = bar.add_task("replications", total=reps)
            run = run_forecast(lambda n: bar.advance(task, n))
        _print_table(run, every)
        typer.echo(f"{run.result.wall_seconds:.1f} s; run {run.run_id}")
        if run.page_path:
            typer.echo(f"report: {run.page_path}")


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
    from caretwin.services.forecast import capture_state

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        st = capture_state(ctx, model, at, seed=seed, scenario=scenario)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(st.to_json_bytes())
        except OSError as exc:
            raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None
        summary = {
            "path": str(out),
            "hour_of_week": st.hour_of_week,
            "patients": st.patient_count(),
            "devices_out": sum(d.count for d in st.devices),
        }
        if fmt == OutputFormat.json:
            print_json(summary)
        else:
            Console(soft_wrap=True).print(
                f"{summary['patients']} patients, {summary['devices_out']} devices out, hour "
                f"{st.hour_of_week:g} of the week -> {out}"
            )


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_cmd)
    app.command("forecast-state")(forecast_state_cmd)
