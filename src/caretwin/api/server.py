"""Running the API: start the job worker and serve (jobs a stopped server left running are
closed first by the command, :func:`caretwin.services.jobs.fail_interrupted`).

uvicorn serves :func:`caretwin.api.app.create_app` on one process; the embedded job worker is a
thread of that process (a queue on PostgreSQL with ``caretwin worker`` processes comes later).
"""

from __future__ import annotations

import logging

from caretwin.api.app import ApiSettings, create_app
from caretwin.services.jobs import JobWorker
from caretwin.workspace import Workspace

__all__ = ["serve"]

log = logging.getLogger(__name__)


def serve(ws: Workspace, host: str, port: int, settings: ApiSettings | None = None) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM), the job worker running beside."""
    import uvicorn

    worker = JobWorker(ws)
    app = create_app(ws, settings, worker=worker)
    worker.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
    finally:
        worker.stop(timeout=10)
