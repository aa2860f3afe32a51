"""``caretwin experiment``: run an experiment file and print a compact comparison table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from caretwin.experiment import ExperimentResult
    from caretwin.services.experiment import ExperimentRun


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:.1f}"


def _print_variants(result: ExperimentResult, console: Console) -> None:
    rows = []
    for v in result.variants:
        s = v.result.summary
        rows.append(
            [v.variant.name, *[f"{_fmt(s[k].mean)} ± {_fmt(s[k].ci95)}" for k in result.kpis]]
        )
    print_table(
        [Column("variant", fit="wrap")]
        + [Column(f"{k}\nmean ± 95% CI", justify="right", fit="wrap") for k in result.kpis],
        rows,
        title=f"{result.model.name}: {len(result.variants)} variants × "
        f"{result.replications} replications, seed {result.seed}",
        console=console,
    )


def _print_diff(result: ExperimentResult, console: Console) -> None:
    if len(result.variants) < 2:
        return
    rows = []
    for v in result.variants[1:]:
        cells = [v.variant.name]
        for k in result.kpis:
            c = v.comparisons[k]
            mark = "*" if c.paired_significant else " "
            cells.append(
                f"{_fmt(c.difference)} ± {_fmt(c.paired_ci95)}{mark} ({_fmt(c.unpaired_ci95)})"
            )
        rows.append(cells)
    print_table(
        [Column("variant", fit="wrap")]
        + [Column(k, justify="right", fit="wrap") for k in result.kpis],
        rows,
        title="difference from baseline: paired ± h (unpaired ± h)",
        caption="* paired 95% interval excludes 0",
        console=console,
    )


def _summary_lines(result: ExperimentResult) -> list[str]:
    lines = []
    rep = result.replication_advice
    if rep is not None:
        lines.append(
            f"replications advisor ({rep.kpi}): recommended n = {rep.recommended}"
            if rep.recommended is not None
            else f"replications advisor ({rep.kpi}): not settled in {rep.replications_run}"
        )
    warm = result.warmup_advice
    if warm is not None:
        lines.append(
            f"warm-up advisor ({warm.resource}): settles after {warm.truncation_days} days "
            f"(model warm-up {warm.current_warmup_days:g} days)"
            if warm.truncation_days is not None
            else f"warm-up advisor ({warm.resource}): not settled; run the advisor longer"
        )
    for s in result.searches:
        where = ", ".join(f"{p}={v}" for p, v in s.fixed.items())
        prefix = f"search {s.vary}" + (f" [{where}]" if where else "")
        if s.chosen is None:
            lines.append(f"{prefix}: goal not met in the range")
        else:
            p = s.probe(s.chosen)
            assert p is not None
            conf = "met with 95% confidence" if s.confident else "met by the mean only"
            lines.append(
                f"{prefix}: smallest = {s.chosen} ({s.kpi} {_fmt(p.mean)} ± {_fmt(p.ci95)}, {conf})"
            )
    return lines


def _json(run: ExperimentRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "report": str(run.report_path) if run.report_path else None,
        **run.outputs,
    }


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
            print_json(_json(run_experiment(ctx, spec, workers=workers, report=not no_report)))
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
        _print_variants(run.result, console)
        _print_diff(run.result, console)
        for line in _summary_lines(run.result):
            console.print(line, markup=False, highlight=False)
        console.print(
            f"{run.result.simulated_replications} replications simulated; run {run.run_id}"
        )
        if run.report_path:
            console.print(f"report: {run.report_path}")


def register(app: typer.Typer) -> None:
    app.command("experiment")(experiment_cmd)
