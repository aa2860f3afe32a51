"""``caretwin init`` and ``caretwin audit``: creating a workspace and reading its audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.text import Text

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table

DIRECTORY_ARGUMENT: Any = typer.Argument(
    ..., help="Folder for the new workspace (created if needed)."
)
DATABASE_URL_OPTION: Any = typer.Option(
    None,
    "--database-url",
    help="Metadata database URL, e.g. postgresql://user@host/db (default: SQLite in DIR).",
)

audit_app = typer.Typer(
    help="The workspace's audit log: list, verify the hash chain, export as FHIR AuditEvent.",
    no_args_is_help=True,
)


def init(
    directory: Path = DIRECTORY_ARGUMENT,
    database_url: str | None = DATABASE_URL_OPTION,
    shared: bool = typer.Option(
        False,
        "--shared",
        help="Shared workspace: OS users are mapped through the user table (you become its "
        "first admin) and files are readable by --group rather than owner-only.",
    ),
    group: str | None = typer.Option(
        None, "--group", help="The service group of a --shared workspace (default: caretwin)."
    ),
) -> None:
    """Create a workspace: caretwin.yaml, metadata database, lake/ and runs/."""
    from caretwin.access import Actor
    from caretwin.errors import ConfigError
    from caretwin.services.workspace import init_workspace

    with cli_errors():
        if group is not None and not shared:
            raise ConfigError("--group goes with --shared")
        shared_group = (group or "caretwin") if shared else None
        ctx = init_workspace(
            directory, Actor.os_user(), database_url=database_url, shared_group=shared_group
        )
        ws = ctx.workspace
        kind = f", shared with group {shared_group}" if shared_group else ""
        typer.echo(f"created workspace {ws.config.name!r} at {ws.root} ({ws.backend}{kind})")


@audit_app.command("list")
def audit_list(
    limit: int = typer.Option(100, "--limit", "-n", min=1, help="Most recent N events."),
    action: str | None = typer.Option(None, "--action", help="Only this action."),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List audit events, newest first."""
    from caretwin.services.audit import list_audit_events
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        events = list_audit_events(ctx, limit=limit, action=action, actor=actor)
        if fmt == OutputFormat.json:
            print_json([e.to_dict() for e in events])
            return
        colours = {"ok": "green", "denied": "yellow", "error": "red", "recovered": "magenta"}
        columns = [
            Column("id", justify="right"),
            Column("at (UTC)"),
            Column("actor", fit="end", drop=1),
            Column("action"),
            Column("target", fit="end"),
            Column("outcome"),
            Column("details", fit="end"),
        ]
        rows: list[list[str | Text]] = [
            [
                str(e.id),
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.action,
                e.target,
                Text(e.outcome, style=colours.get(e.outcome, "")),
                orjson.dumps({k: v for k, v in e.details.items() if v is not None}).decode(),
            ]
            for e in events
        ]
        print_table(columns, rows, title="audit log")


@audit_app.command("verify")
def audit_verify(
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Check the audit hash chain and its checkpoints; names the first tampered event (exit 9)."""
    from caretwin.services.audit import verify_audit
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        result = verify_audit(ctx)
        if fmt == OutputFormat.json:
            print_json(result.to_dict())
            return
        typer.echo(
            f"audit chain ok: {result.chained} events chained (head seq {result.head_seq}), "
            f"{result.sealed} sealed by the genesis, {result.checkpoints} checkpoints checked"
        )
        for path in result.written:
            typer.echo(f"checkpoint written: {path}")


@audit_app.command("export")
def audit_export(
    out: Path = typer.Option(..., "--out", "-o", help="The NDJSON file to write."),
    export_format: str = typer.Option(
        "fhir", "--format", help="fhir: FHIR R4 AuditEvent NDJSON, one event per line."
    ),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Export every audit event, oldest first (FHIR R4 AuditEvent NDJSON)."""
    from caretwin.services.audit import export_audit
    from caretwin.services.context import ServiceContext

    with cli_errors():
        ctx = ServiceContext.for_cli(workspace)
        result = export_audit(ctx, out, format=export_format)
        typer.echo(f"wrote {result.events} AuditEvent resources to {result.path}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(audit_app, name="audit")
