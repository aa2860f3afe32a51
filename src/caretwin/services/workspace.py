"""Creating a workspace as an audited operation.

The workspace does not exist before ``init``, so the permission check and the ``ok`` event are
recorded in the freshly created workspace: its audit trail starts with its own creation.
"""

from __future__ import annotations

from pathlib import Path

from caretwin.access import Actor, Permission
from caretwin.services.context import ServiceContext
from caretwin.workspace.workspace import Workspace

__all__ = ["init_workspace"]


def init_workspace(path: Path, actor: Actor, database_url: str | None = None) -> ServiceContext:
    ws = Workspace.init(path, database_url=database_url)
    ctx = ServiceContext(workspace=ws, actor=actor)
    with ctx.operation("workspace.init", Permission.WORKSPACE_ADMIN, str(ws.root)) as op:
        op.details.update({"backend": ws.backend, "name": ws.config.name})
    return ctx
