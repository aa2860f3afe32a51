"""``caretwin serve``: the command of the API front end, loaded by name like a CLI area.

The command line's root group (:mod:`caretwin.cli.app`) lists ``serve`` in its table and imports
this module only when ``serve`` runs; this module imports FastAPI and uvicorn only inside the
command, so neither is loaded by any other command (``tests/test_startup.py``). It does not use
the CLI's helpers: the two front ends sit side by side and never import each other.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from caretwin.errors import CareTwinError

LOOPBACK = "127.0.0.1"


def serve(
    host: str = typer.Option(
        LOOPBACK, "--host", help="Address to bind (loopback unless told otherwise)."
    ),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    workspace: Path | None = typer.Option(
        None, "--workspace", "-w", help="Workspace folder (default: the nearest one)."
    ),
    max_body_mb: float = typer.Option(
        10.0, "--max-body-mb", min=0.001, help="Largest request body accepted, in MB."
    ),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Run no job worker here (separate `caretwin worker`s do)."
    ),
    concurrency: int = typer.Option(
        1, "--concurrency", min=1, max=64, help="Jobs the embedded worker runs at once."
    ),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1",
        "--forwarded-allow-ips",
        help="Reverse proxies (comma-separated IPs, or '*') whose X-Forwarded-Proto/-For are "
        "believed: HTTPS through them gives Secure session cookies.",
    ),
) -> None:
    """Serve the HTTP API and the web app on the workspace.

    The API under /api/v1/ (OpenAPI at /api/v1/openapi.json), the pages at /; FastAPI on
    uvicorn, with the embedded job worker (unless --no-worker).
    """
    from caretwin.services.jobs import fail_interrupted
    from caretwin.workspace import Workspace

    try:
        ws = Workspace.resolve(workspace)
        from caretwin.api.app import ApiSettings
        from caretwin.api.server import serve as run

        interrupted = fail_interrupted(ws)  # before the worker can take anything
        if interrupted:
            sys.stderr.write(
                f"caretwin: {len(interrupted)} job(s) left running by a stopped worker "
                f"closed: {', '.join(f'{j.job_id} ({j.status})' for j in interrupted)}\n"
            )
        settings = ApiSettings(max_body_bytes=int(max_body_mb * 1024 * 1024))
        if host != LOOPBACK:
            sys.stderr.write(f"caretwin: serving on {host}, not loopback: put TLS in front\n")
        sys.stderr.write(
            f"caretwin: serving {ws.root}: web app http://{host}:{port}/, "
            f"API http://{host}:{port}/api/v1/\n"
        )
        sys.stderr.flush()
        run(
            ws,
            host,
            port,
            settings,
            worker=not no_worker,
            concurrency=concurrency,
            forwarded_allow_ips=forwarded_allow_ips,
        )
    except CareTwinError as exc:
        sys.stderr.write(f"caretwin: error: {exc}\n")
        raise typer.Exit(exc.exit_code) from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
