"""``caretwin simulate``: run a model's scenarios and print KPIs with 95% confidence intervals."""

from __future__ import annotations

import enum
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

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
    from caretwin.services.simulation import SimulationRun


class ExecutorOption(enum.StrEnum):
    local = "local"
    dask = "dask"


def complete_engine(incomplete: str) -> list[str]:
    """Shell completion of --engine: auto and every registered engine (plugins' included)."""
    from caretwin.plugins import registry

    return [n for n in ["auto", *registry.engines()] if n.startswith(incomplete)]


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:.1f}"


def _print_table(run: SimulationRun) -> None:
    rows: list[list[str | Text]] = []
    for kpi, s in run.kpis.items():
        cells: list[str | Text] = [Text.assemble(kpi, "  ", (s.label, "dim"))]
        for kpis in run.scenarios.values():
            k = kpis[kpi]
            cell = f"{_fmt(k.mean)} ± {_fmt(k.ci95)}"
            if k.interval90 is not None and k.variance_share is not None:
                lo, hi = k.interval90
                share = k.variance_share.parameters
                cell += f"  [{_fmt(lo)}, {_fmt(hi)}] {100 * share:.0f}% param"
            cells.append(cell)
        rows.append(cells)
    head = "mean ± 95% CI"
    if run.parameter_uncertainty is not None:
        head += "  [90% interval of the expected value] parameter share"
    print_table(
        [Column("KPI", fit="wrap")]
        + [Column(f"{n}\n{head}", justify="right", fit="wrap") for n in run.scenarios],
        rows,
        title=f"{run.model} — {run.replications} replications",
    )
    loads = [
        f"{r} {e.rho:.2f} [{e.rho_interval90[0]:.2f}, {e.rho_interval90[1]:.2f}]"
        + (f" P(>1) {e.p_rho_above_1:.2f}" if run.parameter_uncertainty is not None else "")
        for r, e in run.load.items()
    ]
    if loads:
        typer.echo("offered load rho: " + "; ".join(loads))
    typer.echo(f"runaway replications (queue trending upward): {100 * run.runaway_share:.1f}%")


def simulate_cmd(
    model: str = MODEL_ARGUMENT,
    scenario: list[str] = typer.Option(
        [], "--scenario", "-s", help="Scenario to run (repeatable; 'all' for every one)."
    ),
    saved: list[str] = typer.Option(
        [],
        "--saved",
        help="A saved scenario, NAME or NAME@vN (repeatable); runs beside the baseline.",
    ),
    reps: int | None = typer.Option(None, "--reps", "-r", min=1, help="Replications."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Root seed."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Local worker processes (default: all cores)."
    ),
    engine: str = typer.Option(
        "auto",
        "--engine",
        autocompletion=complete_engine,
        help=(
            "auto (the fast core when it supports the model), fast, reference, or a plugin's "
            "engine (caretwin plugins list); the built-in engines give the same numbers."
        ),
    ),
    executor: ExecutorOption = typer.Option(
        ExecutorOption.local,
        "--executor",
        help="local processes, or a Dask cluster (--scheduler; none starts a local one).",
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786."
    ),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML report."),
    parameter_uncertainty: bool = typer.Option(
        False,
        "--parameter-uncertainty",
        help=(
            "Draw parameter sets from the calibration's uncertainty; each KPI gets a 90% "
            "interval of its expected value (docs/validity.md)."
        ),
    ),
    reps_per_draw: int = typer.Option(
        2, "--reps-per-draw", min=2, help="With --parameter-uncertainty: replications per draw."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Simulate a model; KPIs per scenario with mean and 95% CI half-width."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.simulation import simulate_model

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        kwargs: dict[str, Any] = dict(
            scenarios=scenario or ["baseline"],
            replications=reps,
            seed=seed,
            workers=workers,
            report=not no_report,
            engine=engine,
            executor=executor.value,
            scheduler=scheduler,
            saved=saved,
            parameter_uncertainty=parameter_uncertainty,
            reps_per_draw=reps_per_draw,
        )
        if fmt == OutputFormat.json:
            run = simulate_model(ctx, model, **kwargs)
        else:
            with progress_bar() as bar:
                task = bar.add_task("replications", total=None)
                run = simulate_model(
                    ctx,
                    model,
                    progress=lambda n: bar.advance(task, n),
                    started=lambda total: bar.update(task, total=total),
                    **kwargs,
                )
        if fmt == OutputFormat.json:
            print_json(run.to_dict())
            return
        _print_table(run)
        typer.echo(
            f"{run.events:,} events in {run.wall_seconds:.1f} s on the {run.engine} engine "
            f"({run.executor}, {run.workers} workers); run {run.run_id}"
        )
        if run.report:
            typer.echo(f"report: {run.report}")


def warmup_cmd() -> None:
    """Compile the fast engine ahead, once after install (simulate otherwise does it first).

    The machine code goes to numba's cache (``__pycache__`` beside the sources, or
    ``NUMBA_CACHE_DIR``); a warm cache makes this a quick no-op.
    """
    from caretwin.services.simulation import compile_fast_engine

    done = compile_fast_engine()
    if not done.compiled:
        typer.echo("the fast engine is already compiled (numba's cache is warm)")
    else:
        typer.echo(
            f"fast engine compiled in {done.seconds:.1f} s; later runs load it from the cache"
        )


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)
    app.command("warmup")(warmup_cmd)
