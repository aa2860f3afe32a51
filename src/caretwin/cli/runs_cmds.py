"""``caretwin runs`` and ``caretwin reproduce``: the run record and reproduction checks."""

from __future__ import annotations

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

runs_app = typer.Typer(help="Recorded runs and their manifests.", no_args_is_help=True)


@runs_app.command("list")
def runs_list(
    kind: str | None = typer.Option(None, "--kind", help="Only runs of this kind."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Most recent N runs."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List runs, newest first."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.runs import list_runs_op

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        runs = list_runs_op(ctx, kind=kind, limit=limit)
        if fmt == OutputFormat.json:
            print_json([r.to_dict() for r in runs])
            return
        columns = [
            Column("run id"),
            Column("kind", drop=3),
            Column("status"),
            Column("created (UTC)"),
            Column("model", fit="end"),
            Column("scenario", fit="end", drop=4),
            Column("seed", justify="right", drop=6),
            Column("reps", justify="right", drop=5),
        ]
        rows = [
            [
                r.run_id,
                r.kind,
                r.status,
                r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.model_name or "",
                r.scenario or "",
                "" if r.seed is None else str(r.seed),
                "" if r.replications is None else str(r.replications),
            ]
            for r in runs
        ]
        print_table(columns, rows, title="runs")


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="The run id (see `caretwin runs list`)."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Show a run's manifest."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.runs import show_run_op

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        manifest = show_run_op(ctx, run_id)
        data = manifest.model_dump(mode="json")
        if fmt == OutputFormat.json:
            print_json(data)
            return
        rows = []
        for key, value in data.items():
            if isinstance(value, dict | list):
                text = (
                    ", ".join(f"{k}={v}" for k, v in value.items())
                    if isinstance(value, dict)
                    else ", ".join(map(str, value))
                )
            else:
                text = "" if value is None else str(value)
            rows.append([key, text])
        print_table([Column("field"), Column("value", fit="wrap")], rows, title=f"run {run_id}")


def reproduce_cmd(
    run_id: str = typer.Argument(..., help="The run to re-run and compare."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Re-run RUN_ID and check its KPIs are identical (exit 0 if identical, 1 if not)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.reproduce import reproduce

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        result = reproduce(ctx, run_id)
    if fmt == OutputFormat.json:
        print_json(result.to_dict())
    elif result.identical:
        typer.secho(
            f"identical: run {result.new_run_id} reproduced the KPIs of {run_id} exactly",
            fg=typer.colors.GREEN,
        )
    else:
        typer.secho(
            f"NOT identical: run {result.new_run_id} differs from {run_id} "
            f"in {len(result.differences)} value(s)",
            fg=typer.colors.RED,
        )
        for path, diff in list(result.differences.items())[:20]:
            typer.echo(f"  {path}: {diff['original']!r} -> {diff['reproduced']!r}")
    raise typer.Exit(0 if result.identical else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    app.command("reproduce")(reproduce_cmd)
