"""Helpers shared by every CLI area: workspace option, output format, error reporting."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer

from caretwin.errors import CareTwinError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"


WORKSPACE_OPTION: Any = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace folder (default: $CARETWIN_WORKSPACE, else the current folder's workspace).",
    envvar="CARETWIN_WORKSPACE",
)

FORMAT_OPTION: Any = typer.Option(OutputFormat.table, "--format", help="Output format.")

# A command that needs a named person (signing, user administration on a shared workspace)
# takes both; pass them to ServiceContext.for_cli(workspace, as_user, password_file).
AS_USER_OPTION: Any = typer.Option(
    None, "--as", help="Act as this user of the workspace (needs --password-file)."
)
PASSWORD_FILE_OPTION: Any = typer.Option(
    None,
    "--password-file",
    help="File whose first line is the password (never pass a password on the command line).",
)


def print_json(obj: Any) -> None:
    sys.stdout.write(
        orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n"
    )


@contextmanager
def cli_errors(fmt: OutputFormat = OutputFormat.table) -> Iterator[None]:
    """Turn CareTwin errors into a clear message and the error's exit code."""
    try:
        yield
    except CareTwinError as exc:
        failed_in = _used_workspace()
        if fmt == OutputFormat.json:
            print_json(exc.envelope())
        else:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        if failed_in is not None:  # a failed step's summary names its workspace too
            typer.echo(f"workspace: {failed_in}", err=True)
        raise typer.Exit(exc.exit_code) from None
    used = _used_workspace()
    if used is not None:
        typer.echo(f"workspace: {used}", err=True)


def _used_workspace() -> Path | None:
    """The workspace the command's service context resolved (read once, then forgotten)."""
    # A command that built no context never loaded the services: keep it that light.
    if "caretwin.services.context" not in sys.modules:
        return None
    from caretwin.services.context import take_cli_workspace

    return take_cli_workspace()


def workspace_path(value: Path | None) -> Path | None:
    return value


Handler = Callable[..., Any]


def progress_bar(*, console: Console | None = None, transient: bool = True) -> Progress:
    """The one progress display of long commands: description, bar, done/total, elapsed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )
