"""``caretwin experiment``: run an experiment file and print a compact comparison table."""

from __future__ import annotations

import math
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
)
from caretwin.cli.tables import Column, print_table
from caretwin.errors import ConfigError

if TYPE_CHECKING:
    from caretwin.services.experiment import ExperimentRun


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:.1f}"


def _print_variants(run: ExperimentRun, console: Console) -> None:
    rows = []
    for name, v in run.variants.items():
        s = v.summary
        rows.append([name, *[f"{_fmt(s[k].mean)} ± {_fmt(s[k].ci95)}" for k in run.kpi_names]])
    print_table(
        [Column("variant", fit="wrap")]
        + [Column(f"{k}\nmean ± 95% CI", justify="right", fit="wrap") for k in run.kpi_names],
        rows,
        title=f"{run.model}: {len(run.variants)} variants × "
        f"{run.replications} replications, seed {run.seed}",
        console=console,
    )


def _print_diff(run: ExperimentRun, console: Console) -> None:
    if len(run.variants) < 2:
        return
    rows = []
    for name, v in list(run.variants.items())[1:]:
        cells = [name]
        for k in run.kpi_names:
            c = v.vs_baseline[k]
            mark = "*" if c.paired_significant else " "
            cells.append(
                f"{_fmt(c.difference)} ± {_fmt(c.paired_ci95)}{mark} ({_fmt(c.unpaired_ci95)})"
            )
        rows.append(cells)
    print_table(
        [Column("variant", fit="wrap")]
        + [Column(k, justify="right", fit="wrap") for k in run.kpi_names],
        rows,
        title="difference from baseline: paired ± h (unpaired ± h)",
        caption="* paired 95% interval excludes 0",
        console=console,
    )


def experiment_cmd(
    spec: Path | None = typer.Argument(None, help="Experiment file (YAML).", show_default=False),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Local worker processes (default: all cores)."
    ),
    schema: bool = typer.Option(False, "--schema", help="Print the experiment JSON Schema."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML report."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Run an experiment: scenarios and sweeps vs baseline (paired), advisors, target search."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from caretwin.experiment import experiment_schema
    from caretwin.services.context import ServiceContext
    from caretwin.services.experiment import run_experiment

    with cli_errors(fmt):
        if schema:
            print_json(experiment_schema())
            return
        if spec is None:
            raise ConfigError("give an experiment file (or --schema)")
        ctx = ServiceContext.for_cli(workspace)
        if fmt == OutputFormat.json:
            print_json(run_experiment(ctx, spec, workers=workers, report=not no_report).to_dict())
            return
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
        ) as bar:
            task = bar.add_task("starting", total=None)
            done = {"n": 0}

            def progress(stage: str, n: int) -> None:
                done["n"] += n
                bar.update(task, description=f"{stage}: {done['n']} replications")

            run = run_experiment(
                ctx, spec, workers=workers, report=not no_report, progress=progress
            )
        console = Console(soft_wrap=True)
        _print_variants(run, console)
        _print_diff(run, console)
        for line in run.findings:
            console.print(line, markup=False, highlight=False)
        console.print(f"{run.simulated_replications} replications simulated; run {run.run_id}")
        if run.report:
            console.print(f"report: {run.report}")


def register(app: typer.Typer) -> None:
    app.command("experiment")(experiment_cmd)
