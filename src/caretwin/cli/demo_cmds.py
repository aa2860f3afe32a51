"""``caretwin demo``: generate, ingest, calibrate, simulate, validate and report on RH1."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from caretwin.cli.common import cli_errors, progress_bar
from caretwin.cli.tables import Column, print_table

if TYPE_CHECKING:
    from rich.progress import TaskID

    from caretwin.services.demo import DemoResult


def _print_summary(res: DemoResult, console: Console) -> None:
    rows = [
        [
            h.kpi,
            f"{h.observed:.4g}",
            f"{h.simulated_mean:.4g}",
            f"{h.simulated_low:.4g} .. {h.simulated_high:.4g}",
        ]
        for h in res.holdout
    ]
    print_table(
        [Column("KPI", fit="wrap")]
        + [Column(c, justify="right") for c in ("observed", "simulated mean")]
        + [Column("simulated 95% range", justify="right", fit="wrap")],
        rows,
        title="Held-out month: observed vs calibrated twin (simulated months)",
        console=console,
    )
    print_table(
        [Column("resource", fit="wrap")]
        + [Column(c, justify="right") for c in ("rho", "90% interval", "P(rho > 1)")],
        [
            [
                r,
                f"{e.rho:.3f}",
                "{:.3f} .. {:.3f}".format(*e.rho_interval90),
                f"{e.p_rho_above_1:.2f}",
            ]
            for r, e in res.load.items()
        ],
        title="Calibrated twin (baseline): offered load per resource under parameter uncertainty",
        console=console,
    )
    console.print(
        f"runaway replications (baseline): {res.runaway_share:.1%}; they stay in every mean"
    )
    verdicts = res.scorecard.verdicts
    for word, decided in (("can", True), ("cannot", False)):
        kpis = [v.kpi for v in verdicts if v.can_predict is decided]
        console.print(
            f"the twin {word} predict ({res.scorecard.plan_name}): {', '.join(kpis) or 'none'}"
        )


def demo(
    workspace: Path | None = typer.Option(
        None, "--workspace", "-w", help="Workspace to use (default: a fresh folder it names)."
    ),
    seed: int = typer.Option(7, "--seed", min=0, help="Seed of the synthetic hospital and runs."),
    reps: int = typer.Option(
        40,
        "--reps",
        min=4,
        help="Replications per scenario: parameter draws × 2 replications each (at least 2 draws).",
    ),
    holdout_reps: int = typer.Option(
        100, "--holdout-reps", min=2, help="Simulated months compared with the held-out month."
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes."),
) -> None:
    """Run CareTwin end to end on the reference hospital and print the report's path."""
    from caretwin.access import Actor
    from caretwin.services.context import ServiceContext
    from caretwin.services.demo import demo_workspace, run_demo

    console = Console(stderr=True, soft_wrap=True)
    started = time.perf_counter()
    with cli_errors():
        if workspace is not None and (workspace / "caretwin.yaml").exists():
            ctx = ServiceContext.for_cli(workspace)  # a shared one's users: the user table
        else:
            ctx = demo_workspace(workspace, Actor.os_user())
        console.print(f"workspace: {ctx.workspace.root}")
        with progress_bar(console=console, transient=False) as bar:
            current: list[TaskID] = []
            sized: set[TaskID] = set()

            def on_step(name: str) -> None:
                if current:
                    bar.update(current[0], total=1, completed=1)
                current[:] = [bar.add_task(name, total=None)]

            def advance(n: int) -> None:
                task = current[0]
                if task not in sized:  # the simulation step learns its size from its first tick
                    bar.update(task, total=5 * (reps - reps % 2))  # whole draws of 2
                    sized.add(task)
                bar.advance(task, n)

            res = run_demo(
                ctx,
                seed=seed,
                replications=reps,
                holdout_replications=holdout_reps,
                workers=workers,
                on_step=on_step,
                progress=advance,
            )
            if current:
                bar.update(current[0], total=1, completed=1)
        _print_summary(res, console)
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items() if k != "total")
        console.print(f"timings: {timings}; total {time.perf_counter() - started:.1f}s")
        console.print(f"run {res.run_id}; calibrated model {res.calibrated_model}")
        typer.echo(f"report: {res.report}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
