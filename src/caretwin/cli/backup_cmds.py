"""``caretwin backup`` and ``caretwin restore``: a workspace archived live, and brought back."""

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


def backup(
    out: Path = typer.Option(..., "--out", "-o", help="The archive to write (.tar.gz)."),
    include_key: bool = typer.Option(
        False,
        "--include-key",
        help="Also archive the audit key (keep such an archive as secret as the key itself).",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Archive a live workspace: metadata database, lake, runs, audit checkpoints."""
    from caretwin.services.backup import backup_workspace
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        result = backup_workspace(ctx, out, include_key=include_key)
        if fmt == OutputFormat.json:
            print_json(result.to_dict())
            return
        typer.echo(
            f"wrote {result.path}: {result.files} files, {result.bytes / 1e6:.1f} MB, "
            f"audit head seq {result.audit_head_seq}"
            + ("" if result.include_key else " (audit key not included: keep it apart)")
        )


def restore(
    archive: Path = typer.Argument(..., help="An archive written by caretwin backup."),
    to: Path = typer.Option(..., "--to", help="A fresh folder for the restored workspace."),
    key: Path | None = typer.Option(
        None, "--key", help="The audit key file, when the archive does not hold it."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Restore the metadata into this database (default SQLite)."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Restore a backup into a fresh folder and verify its audit chain and lake."""
    from caretwin.access import Actor
    from caretwin.services.backup import restore_workspace

    with cli_errors(fmt):
        result = restore_workspace(
            archive, to, Actor.os_user(), key_file=key, database_url=database_url
        )
        if fmt == OutputFormat.json:
            print_json(result.to_dict())
        else:
            typer.echo(
                f"restored {result.files} files into {result.workspace}: audit chain "
                f"{'ok' if result.audit_ok else 'FAILS'} (head seq {result.audit_head_seq}), "
                f"lake {'ok' if result.lake_ok else 'FAILS'}"
            )
        if not (result.audit_ok and result.lake_ok):
            raise typer.Exit(9 if not result.audit_ok else 4)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
