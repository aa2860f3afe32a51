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
        path = copy_example(ctx, name, out)
        typer.echo(f"wrote {path}")


def validate(
    model: str = MODEL_ARGUMENT,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Check a twin definition; problems are listed with their field paths."""
    from caretwin.model import scenario_names
    from caretwin.services.context import ServiceContext
    from caretwin.services.models import validate_model

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        d = validate_model(ctx, model)
        info = {
            "valid": True,
            "name": d.name,
            "version": d.version,
            "model_hash": d.content_hash(),
            "resources": {k: r.capacity for k, r in d.resources.items()},
            "pathways": list(d.pathways),
            "scenarios": scenario_names(d),
            "kpis": list(d.kpis),
        }
        if fmt == OutputFormat.json:
            print_json(info)
        else:
            typer.echo(f"{d.name} v{d.version} is valid (hash {d.content_hash()[:12]})")
            typer.echo(f"  scenarios: {', '.join(scenario_names(d))}")


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)
    app.command("examples")(examples)
    app.command("validate")(validate)
