"""Creating a workspace as an audited operation.

The workspace does not exist before ``init``, so the permission check and the ``ok`` event are
recorded in the freshly created workspace: its audit trail starts with its own creation.
"""

from __future__ import annotations

import pwd
from pathlib import Path

from caretwin.access import Actor, Permission
from caretwin.services.context import ServiceContext
from caretwin.store.identity import User
from caretwin.store.models import utcnow
from caretwin.workspace.workspace import Workspace

__all__ = ["init_workspace"]


def init_workspace(
    path: Path,
    actor: Actor,
    database_url: str | None = None,
    shared_group: str | None = None,
) -> ServiceContext:
    """Create a workspace; ``shared_group``: a shared one, whose first user is ``actor``
    (an admin, so someone can add the others)."""
    ws = Workspace.init(path, database_url=database_url, shared_group=shared_group)
    ctx = ServiceContext(workspace=ws, actor=actor)
    with ctx.operation("workspace.init", Permission.WORKSPACE_ADMIN, str(ws.root)) as op:
        op.details.update({"backend": ws.backend, "name": ws.config.name})
        if shared_group is not None:
            op.details.update({"shared": True, "group": shared_group})
            with ws.session() as session:
                session.add(
                    User(
                        name=actor.name,
                        full_name=_full_name(actor.name),
                        roles=["admin"],
                        disabled=False,
                        failed_logins=0,
                        created_at=utcnow(),
                        created_by=actor.name,
                    )
                )
    return ctx


def _full_name(login: str) -> str:
    """The OS account's full name (GECOS), else the login: an admin can correct it later."""
    try:
        gecos = pwd.getpwnam(login).pw_gecos.split(",", 1)[0].strip()
    except KeyError:
        return login
    return gecos or login
