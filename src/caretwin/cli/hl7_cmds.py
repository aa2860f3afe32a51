"""``caretwin listen mllp`` (the HL7 v2 MLLP listener) and ``caretwin hl7 parse``.

Output is counts, ports, pseudonymous ids, codes and reasons; never names, MRNs or dates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

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
    from caretwin.hl7v2 import MllpListener

listen_app = typer.Typer(help="Receive data from hospital systems.", no_args_is_help=True)
hl7_app = typer.Typer(help="HL7 v2 messages.", no_args_is_help=True)


@listen_app.command("mllp")
def mllp_cmd(
    port: int = typer.Option(..., "--port", "-p", min=0, max=65535, help="TCP port (0: any)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    max_messages: int | None = typer.Option(
        None, "--max-messages", min=1, help="Stop after N messages (tests, one-off loads)."
    ),
    batch_seconds: float = typer.Option(
        1.0, "--batch-seconds", min=0.01, help="Commit a batch at most S seconds after it began."
    ),
    batch_size: int = typer.Option(50, "--batch-size", min=1, help="Commit every N messages."),
    idle_timeout: float = typer.Option(
        60.0, "--idle-timeout", min=0, help="Close a connection idle S seconds (0: never)."
    ),
    max_connections: int = typer.Option(
        64, "--max-connections", min=1, help="Connections served at once; more are closed."
    ),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="PEM certificate (chain): serve MLLP over TLS."
    ),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Listen for HL7 v2 ADT over MLLP; ACK each message once its batch is in the lake."""
    from caretwin.errors import ConfigError
    from caretwin.hl7v2 import ListenerConfig
    from caretwin.services.context import ServiceContext
    from caretwin.services.hl7 import listen_mllp

    with cli_errors(fmt):
        if (tls_cert is None) != (tls_key is None):
            raise ConfigError("TLS needs both --tls-cert and --tls-key")
        ctx = ServiceContext.for_cli(workspace)
        config = ListenerConfig(
            host=host,
            port=port,
            batch_size=batch_size,
            batch_seconds=batch_seconds,
            max_messages=max_messages,
            idle_timeout=idle_timeout,
            max_connections=max_connections,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )

        def ready(listener: MllpListener) -> None:
            # stderr, so --format json keeps stdout for the final summary only
            mode = "MLLP over TLS" if listener.tls else "MLLP"
            print(
                f"listening on {host}:{listener.stats.port} ({mode})", file=sys.stderr, flush=True
            )

        stats = listen_mllp(ctx, config, ready=ready, handle_signals=True)
        if fmt == OutputFormat.json:
            print_json(stats.to_dict())
        else:
            typer.echo(
                f"stopped: {stats.messages} messages on {stats.connections} connections, "
                f"{stats.batches} batches; {stats.accepted} stored, {stats.duplicates} duplicates, "
                f"{stats.refused} refused, {stats.commit_errors} not stored"
                + (
                    f"; {stats.connections_refused} connections refused"
                    if stats.connections_refused
                    else ""
                )
            )


@hl7_app.command("parse")
def parse_cmd(
    path: Path = typer.Argument(..., help="An HL7 v2 file (one or many messages)."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Show what each message maps to (pseudonymous ids, codes, locations), without PHI."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.hl7 import describe_hl7_file

    with cli_errors(fmt):
        rows = describe_hl7_file(ServiceContext.for_cli(workspace), path)
        if fmt == OutputFormat.json:
            print_json([r.to_dict() for r in rows])
            return
        table = []
        for r in rows:
            if not r.valid:
                table.append([str(r.index), str(r.line), "", "", "", "", "", r.reason or ""])
                continue
            table.append(
                [
                    str(r.index),
                    str(r.line),
                    r.message_type or "",
                    r.control_id or "",
                    r.encounter_id or "",
                    r.class_code or "",
                    r.location or "",
                    "times: " + ", ".join(r.times_present),
                ]
            )
        columns = [Column("#", justify="right"), Column("line", justify="right"), Column("type")]
        columns += [Column("control id", fit="end"), Column("encounter", fit="end")]
        columns += [Column("class", drop=1), Column("location", fit="end", drop=2)]
        print_table([*columns, Column("note", fit="wrap")], table, title=path.name)


def register(app: typer.Typer) -> None:
    app.add_typer(listen_app, name="listen")
    app.add_typer(hl7_app, name="hl7")
