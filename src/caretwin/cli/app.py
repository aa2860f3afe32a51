"""The ``caretwin`` command: a Typer app assembled from one module per area.

Each area module exposes ``register(app)``; adding a command group never touches another area's
module. Errors from the :mod:`caretwin.errors` tree become a one-line message (or the JSON error
envelope with ``--format json``) and the error's exit code, never a traceback.
"""

from __future__ import annotations

import importlib

import typer

from caretwin import __version__

AREAS = [
    "caretwin.cli.workspace_cmds",
    "caretwin.cli.model_cmds",
    "caretwin.cli.sim_cmds",
    "caretwin.cli.synth_cmds",
    "caretwin.cli.ingest_cmds",
    "caretwin.cli.calibrate_cmds",
    "caretwin.cli.runs_cmds",
    "caretwin.cli.demo_cmds",
    "caretwin.cli.experiment_cmds",
    "caretwin.cli.forecast_cmds",
    "caretwin.cli.sources_cmds",
    "caretwin.cli.hl7_cmds",
    "caretwin.cli.views_cmds",
    "caretwin.cli.snapshots_cmds",
]

app = typer.Typer(
    name="caretwin",
    help="CareTwin: governed digital twins of hospital operations.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"caretwin {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """CareTwin: governed digital twins of hospital operations."""


for _name in AREAS:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()
