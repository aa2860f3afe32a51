"""The service context: who is acting, on which workspace, and the audited operation around it.

Every service function takes a :class:`ServiceContext` first and wraps its work in
``with ctx.operation(action, permission, target) as op:``. That single construct is why the CLI
and the (future) HTTP API cannot drift apart on governance: the permission check and the audit
event happen in the service, not in whichever front end called it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caretwin.access import Actor, Permission, require
from caretwin.audit import AuditLog
from caretwin.errors import AccessDenied
from caretwin.workspace import Workspace

__all__ = ["Operation", "ServiceContext"]

log = logging.getLogger(__name__)

_MAX_ERROR_MESSAGE = 500


@dataclass
class Operation:
    """An operation in progress. Put ids, counts and hashes (never PHI) in ``details``."""

    action: str
    target: str
    permission: Permission
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServiceContext:
    workspace: Workspace
    actor: Actor

    @classmethod
    def for_cli(cls, workspace_path: Path | None) -> ServiceContext:
        """The CLI's context: the resolved workspace, acting as the OS user with role admin."""
        return cls(workspace=Workspace.resolve(workspace_path), actor=Actor.os_user())

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.workspace)

    @contextmanager
    def operation(self, action: str, permission: Permission, target: str) -> Iterator[Operation]:
        """Check ``permission``, run the block, and audit the outcome.

        Denied: audits ``denied`` and raises :class:`AccessDenied` before the block runs.
        Block raises: audits ``error`` with the error's class name and message, then re-raises
        the original exception. Otherwise audits ``ok`` with ``op.details``.
        """
        op = Operation(action=action, target=target, permission=permission)
        audit = self.audit
        try:
            require(self.actor, permission)
        except AccessDenied:
            audit.record(
                self.actor, action, target, "denied", {"permission": permission.value}
            )
            raise
        try:
            yield op
        except Exception as exc:
            details = dict(op.details)
            details["error"] = {
                "type": exc.__class__.__name__,
                "message": str(exc)[:_MAX_ERROR_MESSAGE],
            }
            try:
                audit.record(self.actor, action, target, "error", details)
            except Exception:
                # Never let an audit failure hide the error the user needs to see.
                log.exception("could not audit the failure of %s on %s", action, target)
            raise
        audit.record(self.actor, action, target, "ok", op.details)
