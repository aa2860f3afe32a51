"""``caretwin sources`` and ``caretwin pull``: FHIR servers as data sources.

Secrets never appear on the command line: ``--token-env VAR`` / ``--token-file PATH`` and
``--private-key-file PATH`` name where the secret is, and only that reference is stored. Output is
counts, ids, URLs without query strings and watermarks; never record content.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table
from caretwin.connectors import AuthMode
from caretwin.errors import ConfigError, DataError

if TYPE_CHECKING:
    from caretwin.connectors import PullReport

sources_app = typer.Typer(help="External data sources (FHIR R4 servers).", no_args_is_help=True)
add_app = typer.Typer(help="Add a data source.", no_args_is_help=True)
sources_app.add_typer(add_app, name="add")

TYPE_OPTION: Any = typer.Option(
    None, "--type", "-t", help="Resource type to pull (repeatable; default: the lake's types)."
)


@add_app.command("fhir")
def add_fhir(
    name: str = typer.Argument(..., help="Source name (letters, digits, '_', '.', '-')."),
    base_url: str = typer.Option(..., "--base-url", help="FHIR R4 base URL."),
    auth: AuthMode = typer.Option(AuthMode.none, "--auth", help="Authentication."),
    token_env: str | None = typer.Option(None, help="bearer: variable holding the token."),
    token_file: Path | None = typer.Option(None, help="bearer: file holding the token."),
    client_id: str | None = typer.Option(None, help="smart: registered client id."),
    private_key_file: Path | None = typer.Option(None, help="smart: PEM private key file."),
    key_id: str | None = typer.Option(None, help="smart: JWKS key id (kid) of that key."),
    alg: str = typer.Option("RS384", help="smart: RS384 or ES384."),
    scope: str = typer.Option("system/*.read", help="smart: requested scope."),
    token_url: str | None = typer.Option(None, help="smart: token URL (default: discovered)."),
    page_size: int = typer.Option(500, help="REST search page size (_count)."),
    timeout: float = typer.Option(30.0, help="Per-request timeout in seconds."),
    max_retries: int = typer.Option(5, help="Retries per request on 429/5xx/network errors."),
    reconcile_deletes: bool = typer.Option(
        False,
        "--reconcile-deletes",
        help="REST: list the server's ids after each pull and drop from the lake those it no "
        "longer has (for servers without _history).",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Add a FHIR R4 server as a source."""
    from pydantic import ValidationError

    from caretwin.connectors import SourceConfig
    from caretwin.services import sources as svc
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        if auth == AuthMode.bearer and not (token_env or token_file):
            raise ConfigError(
                "invalid source: bearer auth needs --token-env VAR or --token-file PATH"
            )
        if auth == AuthMode.smart and not (client_id and private_key_file):
            raise ConfigError("invalid source: smart auth needs --client-id and --private-key-file")
        auth_cfg = {
            "mode": auth,
            "token_env": token_env,
            "token_file": str(token_file.resolve()) if token_file else None,
            "client_id": client_id,
            "private_key_file": str(private_key_file.resolve()) if private_key_file else None,
            "key_id": key_id,
            "alg": alg,
            "scope": scope,
            "token_url": token_url,
        }
        try:
            config = SourceConfig.model_validate(
                {
                    "name": name,
                    "base_url": base_url,
                    "auth": auth_cfg,
                    "page_size": page_size,
                    "timeout": timeout,
                    "max_retries": max_retries,
                    "reconcile_deletes": reconcile_deletes,
                }
            )
        except ValidationError as exc:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise ConfigError(f"invalid source: {msgs}") from None
        shown = svc.add_source(ServiceContext.for_cli(workspace), config)
        for warning in shown.warnings:
            typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
        if fmt == OutputFormat.json:
            print_json(shown.to_dict())
        else:
            typer.echo(f"added source {name} ({base_url}, auth {auth.value})")


@sources_app.command("list")
def list_cmd(fmt: OutputFormat = FORMAT_OPTION, workspace: Path | None = WORKSPACE_OPTION) -> None:
    """List the sources."""
    from caretwin.services import sources as svc
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        rows = svc.list_sources(ServiceContext.for_cli(workspace))
        if fmt == OutputFormat.json:
            print_json([r.to_dict() for r in rows])
            return
        print_table(
            [
                Column("name"),
                Column("kind"),
                Column("base url", fit="end"),
                Column("auth"),
                Column("added", drop=1),
            ],
            [[r.name, r.kind, r.base_url, r.auth, r.created_at[:19]] for r in rows],
            title="sources",
        )


@sources_app.command("show")
def show_cmd(
    name: str = typer.Argument(...),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """A source's settings, watermarks and recent pulls."""
    from caretwin.services import sources as svc
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        info = svc.show_source(ServiceContext.for_cli(workspace), name)
        if fmt == OutputFormat.json:
            print_json(info.to_dict())
            return
        console = Console(soft_wrap=True)
        src = info.source
        deletes = "; reconciles deletes" if src.reconcile_deletes else ""
        console.print(f"[bold]{name}[/] {src.base_url} (auth {src.auth.mode.value}{deletes})")
        for rtype, mark in sorted(info.watermarks.items()):
            console.print(f"  watermark {rtype}: {mark}")
        rows = [
            [
                p.pull_id,
                p.mode,
                p.status,
                p.started_at[:19],
                str(p.fetched),
                (p.snapshot_id or "-")[:16],
            ]
            for p in info.pulls
        ]
        columns = ["pull", "mode", "status", "started", "fetched", "snapshot"]
        print_table([Column(c) for c in columns], rows, title="recent pulls", console=console)


@sources_app.command("set-url")
def set_url_cmd(
    name: str = typer.Argument(...),
    base_url: str = typer.Argument(..., help="The server's own FHIR base URL."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Point a source at another base URL, keeping its settings and watermarks."""
    from pydantic import ValidationError

    from caretwin.services import sources as svc
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        try:
            shown = svc.set_base_url(ServiceContext.for_cli(workspace), name, base_url)
        except ValidationError as exc:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise ConfigError(f"invalid base URL: {msgs}") from None
        if fmt == OutputFormat.json:
            print_json(shown.to_dict())
        else:
            typer.echo(f"source {name} now reads {shown.source.base_url}")
        for warning in shown.warnings:
            typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)


@sources_app.command("remove")
def remove_cmd(
    name: str = typer.Argument(...),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Forget a source and its watermarks (pull records and lake data stay)."""
    from caretwin.services import sources as svc
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        removed = svc.remove_source(ServiceContext.for_cli(workspace), name)
        if fmt == OutputFormat.json:
            print_json(removed.to_dict())
        else:
            typer.echo(f"removed source {name}")


def _print_pull(report: PullReport) -> None:
    console = Console(soft_wrap=True)
    rows = []
    for rtype in sorted(set(report.fetched) | set(report.ingest)):
        c = report.ingest.get(rtype, {})
        rows.append(
            [
                rtype,
                str(report.fetched.get(rtype, "-")),
                str(c.get("added", 0)),
                str(c.get("unchanged", 0)),
                str(report.deleted.get(rtype, 0)),
                str(c.get("quarantined", 0)),
            ]
        )
    numbers = ("fetched", "added", "unchanged", "deleted", "quarantined")
    print_table(
        [Column("resource type"), *(Column(n, justify="right") for n in numbers)],
        rows,
        title=f"pull {report.pull_id} ({report.mode})",
        console=console,
    )
    s = report.stats
    console.print(
        f"status {report.status}; {s.get('requests', 0)} requests, {s.get('pages', 0)} pages, "
        f"{s.get('retries', 0)} retries, {s.get('bytes', 0):,} bytes in {report.seconds:.2f} s; "
        f"{report.quarantined} quarantined ({report.source_errors} reported by the source)"
    )
    for rtype, how in sorted(report.delete_checks.items()):
        console.print(f"deletes {rtype}: {how}")
    for rtype, why in report.incomplete.items():
        console.print(f"[yellow]{rtype} incomplete:[/] {why}")


def pull_cmd(
    name: str = typer.Argument(..., help="Source name."),
    types: list[str] | None = TYPE_OPTION,
    bulk: bool = typer.Option(False, "--bulk", help="Use Bulk Data $export instead of search."),
    group: str | None = typer.Option(None, "--group", help="Bulk: export Group/ID."),
    patient: bool = typer.Option(False, "--patient", help="Bulk: export Patient/$export."),
    since: datetime | None = typer.Option(
        None, "--since", help="Only records updated after this (default: the watermark)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Bulk: continue the unfinished export (implies --bulk)."
    ),
    restart: bool = typer.Option(False, "--restart", help="Bulk: abandon it and start over."),
    reconcile: bool | None = typer.Option(
        None,
        "--reconcile-deletes/--no-reconcile-deletes",
        help="REST: compare the server's ids with the lake's and drop those the server no "
        "longer has (default: the source's setting).",
        show_default=False,
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log retries and progress."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Pull a source into the lake (incremental: only what changed since the last pull)."""
    from caretwin.services import sources as svc
    from caretwin.services.context import ServiceContext

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    with cli_errors(fmt):
        _check_pull_options(bulk or resume, group, patient, restart, reconcile)
        try:
            report = svc.pull(
                ServiceContext.for_cli(workspace),
                name,
                types=types or None,
                since=_instant(since) if since else None,
                bulk=bulk,
                group=group,
                patient=patient,
                resume=resume,
                restart=restart,
                reconcile=reconcile,
            )
        except ConfigError as exc:
            raise _with_option_hint(exc, name) from exc
        if fmt == OutputFormat.json:
            print_json(report.model_dump(mode="json"))
        else:
            _print_pull(report)
    if report.status != "complete":
        # The report is already printed (JSON or table); the exit code says it is incomplete.
        if fmt != OutputFormat.json:
            typer.secho(f"pull {report.pull_id} incomplete", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(DataError.exit_code)


def _check_pull_options(
    bulk: bool, group: str | None, patient: bool, restart: bool, reconcile: bool | None
) -> None:
    """The pull options that go together, said in this command's own terms."""
    if (group or patient or restart) and not bulk:
        raise ConfigError("--group, --patient and --restart go with --bulk")
    if reconcile and bulk:
        raise ConfigError("--reconcile-deletes is for REST pulls (an export lists its deletes)")
    if group and patient:
        raise ConfigError("choose one of --group ID and --patient")


def _with_option_hint(exc: ConfigError, name: str) -> ConfigError:
    """The service's error about an unfinished export, with the options that act on it."""
    resumable = exc.details.get("resumable")
    if resumable is None:
        return exc
    hint = "--resume, or --restart" if resumable else f"caretwin pull {name} --bulk"
    return ConfigError(f"{exc.message} ({hint})", details=exc.details)


def _instant(value: datetime | date) -> str:
    """A FHIR instant; a date or naive time is taken as UTC."""
    text = value.isoformat()
    return text if "+" in text[10:] else f"{text}Z"


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")
    app.command("pull")(pull_cmd)
