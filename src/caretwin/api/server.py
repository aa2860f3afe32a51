"""Running the API: start the job worker and serve (jobs a stopped worker left running are
closed first by the command, :func:`caretwin.services.jobs.fail_interrupted`).

uvicorn serves :func:`caretwin.api.app.create_app` on one process; the embedded job worker runs
in threads of that process, unless ``--no-worker`` leaves the queue to ``caretwin worker``
processes (``docs/jobs.md``).
"""

from __future__ import annotations

import logging

from caretwin.api.app import ApiSettings, create_app
from caretwin.services.jobs import JobWorker
from caretwin.workspace import Workspace

__all__ = ["serve"]

log = logging.getLogger(__name__)


def serve(
    ws: Workspace,
    host: str,
    port: int,
    settings: ApiSettings | None = None,
    *,
    worker: bool = True,
    concurrency: int = 1,
    forwarded_allow_ips: str = "127.0.0.1",
) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM), the job worker running beside.

    ``forwarded_allow_ips``: the reverse proxies whose ``X-Forwarded-Proto``/``-For`` uvicorn
    applies, so a page behind a TLS proxy sees ``https`` (Secure cookies) and the client's
    address (sign-in throttling, audit)."""
    import uvicorn

    jobs = JobWorker(ws, concurrency=concurrency) if worker else None
    app = create_app(ws, settings, worker=jobs)
    if jobs is not None:
        jobs.start()
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            server_header=False,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
        )
    finally:
        if jobs is not None:
            jobs.stop(timeout=10)
