"""``caretwin schema``, ``examples`` and ``validate``: the twin definition format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)

MODEL_ARGUMENT: Any = typer.Argument(..., help="Model YAML file, or a shipped example's name.")


def schema() -> None:
    """Print the JSON Schema of the twin definition format."""
    from caretwin.model.definition import TwinDefinition

    print_json(TwinDefinition.model_json_schema(by_alias=True))


def examples(
    name: str | None = typer.Argument(None, help="Example to copy out (omit to list)."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="File or folder to copy it to."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List the example models shipped with CareTwin, or copy one out."""
    from caretwin.model import example_names
    from caretwin.services.context import ServiceContext
    from caretwin.services.models import copy_example

    with cli_errors():
        if name is None:
            for n in example_names():
                typer.echo(n)
            return
        ctx = ServiceContext.for_cli(workspace)
        copied = copy_example(ctx, name, out)
        typer.echo(f"wrote {copied.path}")


def validate(
    model: str = MODEL_ARGUMENT,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Check a twin definition; problems are listed with their field paths."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.models import validate_model

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        check = validate_model(ctx, model)
        if fmt == OutputFormat.json:
            print_json(check.to_dict())
        else:
            typer.echo(f"{check.name} v{check.version} is valid (hash {check.model_hash[:12]})")
            typer.echo(f"  scenarios: {', '.join(check.scenarios)}")


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)
    app.command("examples")(examples)
    app.command("validate")(validate)
