"""``caretwin plugins``: what plugins are installed, from which distribution and version."""

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

plugins_app = typer.Typer(
    help="Plugins: engines, KPIs, feeders, fitters, report sections, commands.",
    no_args_is_help=True,
)


@plugins_app.command("list")
def plugins_list(
    no_load: bool = typer.Option(
        False, "--no-load", help="Only read the installed metadata; import no plugin."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List plugins: distribution, version, status (loaded / not loaded / failed) and what each
    provides."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.plugins import list_plugins

    with cli_errors(fmt):
        rows = list_plugins(ServiceContext.for_cli(workspace), load=not no_load)
        if fmt == OutputFormat.json:
            print_json([r.to_dict() for r in rows])
            return
        print_table(
            [
                Column("plugin"),
                Column("distribution", drop=2),
                Column("version"),
                Column("status", fit="wrap"),
                Column("provides", fit="wrap", drop=1),
            ],
            [
                [
                    r.name,
                    r.distribution,
                    r.version,
                    f"{r.status}: {r.error}" if r.error else r.status,
                    "; ".join(f"{k}: {', '.join(v)}" for k, v in r.provides.items()),
                ]
                for r in rows
            ],
            title="plugins (entry-point group 'caretwin')",
        )


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
