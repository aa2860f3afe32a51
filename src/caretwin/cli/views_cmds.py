"""``caretwin views``: SQL on FHIR v2 ViewDefinitions over the lake.

``list`` shows shipped views and workspace overrides, ``show`` a view's JSON and compiled SQL,
``run`` runs one over the workspace lake, ``test`` runs conformance files (default: the official
suite, when ``../shared`` holds it or ``CARETWIN_SOF_SUITE`` points at it).
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
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
    from caretwin.services.views import ViewCase

views_app = typer.Typer(help="SQL on FHIR v2 views: list, show, run, test.", no_args_is_help=True)

_SHOWN_ROWS = 50


class ViewEngine(enum.StrEnum):
    auto = "auto"
    compiled = "compiled"
    native = "native"
    interpreted = "interpreted"


def default_suite() -> Path | None:
    """The official suite: ``$CARETWIN_SOF_SUITE``, else ``../shared`` beside the checkout."""
    env = os.environ.get("CARETWIN_SOF_SUITE")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "conformance" / "sql-on-fhir-v2" for p in here.parents[3:5]]
    return next((c for c in candidates if c.is_dir()), None)


@views_app.command("list")
def list_cmd(fmt: OutputFormat = FORMAT_OPTION, workspace: Path | None = WORKSPACE_OPTION) -> None:
    """Shipped views and the workspace's (``<workspace>/views/*.json``), overrides marked."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.views import list_views

    with cli_errors(fmt):
        views = list_views(ServiceContext.for_cli(workspace))
        if fmt == OutputFormat.json:
            print_json([v.to_dict() for v in views])
            return
        rows = [
            [
                v.name,
                v.resource,
                "workspace (override)" if v.override else v.origin,
                ", ".join(v.columns),
            ]
            for v in views
        ]
        columns = [Column("name"), Column("resource"), Column("origin", fit="end")]
        print_table([*columns, Column("columns", fit="wrap")], rows, title="views")


@views_app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="View name."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """A view's ViewDefinition JSON and the DuckDB SQL it compiles to."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.views import show_view

    with cli_errors(fmt):
        shown = show_view(ServiceContext.for_cli(workspace), name)
        if fmt == OutputFormat.json:
            print_json(shown.to_dict())
            return
        typer.echo(f"# {shown.name} ({shown.origin}, sha256 {shown.sha256[:16]}…)")
        typer.echo(orjson.dumps(shown.definition, option=orjson.OPT_INDENT_2).decode())
        if shown.sql:
            typer.echo("\n-- compiled SQL (DuckDB)\n" + shown.sql)
        else:
            typer.echo(f"\n-- runs interpreted: {shown.not_compiled_because}")


@views_app.command("run")
def run_cmd(
    name: str = typer.Argument(..., help="View name."),
    limit: int | None = typer.Option(None, "--limit", help="At most this many rows."),
    fmt: str = typer.Option("table", "--format", help="table, json or parquet."),
    out: Path | None = typer.Option(None, "--out", help="Write the rows to this file."),
    engine: ViewEngine = typer.Option(ViewEngine.auto, "--engine", help="Engine to run it on."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Run a view over the workspace lake (a recorded run)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.views import run_workspace_view

    as_json = OutputFormat.json if fmt == "json" and out is None else OutputFormat.table
    with cli_errors(as_json):
        run = run_workspace_view(
            ServiceContext.for_cli(workspace),
            name,
            limit=limit,
            engine=engine.value,
            fmt=fmt,
            out=out,
        )
        if fmt == "json" and out is None:
            print_json(run.to_dict())
            return
        if out is None:
            _print_rows(run.rows, run.columns)
        s = run.summary
        typer.echo(
            f"{s.rows} rows from {s.resources} {run.resource} resources, engine {s.engine}, "
            f"{s.seconds:.3f} s; run {s.run_id}" + (f"; written to {out}" if out else "")
        )


def _print_rows(rows: list[dict[str, Any]], columns: list[str]) -> None:
    print_table(
        [Column(c, fit="end") for c in columns],
        [["" if row[c] is None else str(row[c]) for c in columns] for row in rows[:_SHOWN_ROWS]],
    )
    if len(rows) > _SHOWN_ROWS:
        typer.echo(f"… {len(rows) - _SHOWN_ROWS} more rows (use --out to write them all)")


@views_app.command("test")
def test_cmd(
    path: Path | None = typer.Argument(None, help="Conformance file or folder (default: suite)."),
    fmt: OutputFormat = FORMAT_OPTION,
    report: Path | None = typer.Option(None, "--report", help="Write test_report.json here."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Run SQL on FHIR conformance tests and print the pass count."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.views import test_views

    with cli_errors(fmt):
        result = test_views(ServiceContext.for_cli(workspace), path, default_suite())
        if report is not None:
            report.write_bytes(orjson.dumps(result.report, option=orjson.OPT_INDENT_2))
        if fmt == OutputFormat.json:
            print_json(result.to_dict())
        else:
            for case in result.failures:
                typer.echo(f"FAIL {case.file} :: {case.title}: {case.message}")
            _print_experimental(result.cases)
            typer.echo(result.headline)
        if not result.passed:
            raise typer.Exit(1)


def _print_experimental(cases: list[ViewCase]) -> None:
    """Optional tests apart from the verdict: one not passing yet does not fail the run."""
    tried = [c for c in cases if c.experimental]
    if not tried:
        return
    passed = sum(c.passed for c in tried)
    typer.echo(f"experimental (not required): {passed} of {len(tried)} pass")
    for case in tried:
        if not case.passed:
            typer.echo(f"  not yet: {case.file} :: {case.title}: {case.message}")


def register(app: typer.Typer) -> None:
    app.add_typer(views_app, name="views")
