"""The service context: who is acting, on which workspace, and the audited operation around it.

Every service function takes a :class:`ServiceContext` first and wraps its work in
``with ctx.operation(action, permission, target) as op:``. That single construct is why the CLI
and the (future) HTTP API cannot drift apart on governance: the permission check and the audit
event happen in the service, not in whichever front end called it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caretwin.access import Actor, Permission, require
from caretwin.audit import AuditLog
from caretwin.audit.log import PATIENT_DATA
from caretwin.diskfull import disk_full_error, is_disk_full
from caretwin.errors import AccessDenied, ConfigError, DiskFull
from caretwin.workspace import Workspace
from caretwin.workspace.locks import operation_lock
from caretwin.workspace.private import private_files

__all__ = ["Operation", "ServiceContext", "take_cli_workspace"]

log = logging.getLogger(__name__)

_MAX_ERROR_MESSAGE = 500

# The workspace the CLI's last context resolved: every command's summary names it.
_cli_workspace: ContextVar[Path | None] = ContextVar("cli_workspace", default=None)


def take_cli_workspace() -> Path | None:
    """The workspace :meth:`ServiceContext.for_cli` resolved since the last call, if any."""
    root = _cli_workspace.get()
    _cli_workspace.set(None)
    return root


#: Operations that run long enough to be killed half-way: they audit ``started`` before their
#: work, so a trail with a ``started`` and no end shows an operation that never finished.
LONG_ACTIONS = frozenset(
    {"data.ingest", "data.pull", "sim.run", "experiment.run", "model.calibrate"}
)


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
    def for_cli(
        cls,
        workspace_path: Path | None,
        as_user: str | None = None,
        password_file: Path | None = None,
    ) -> ServiceContext:
        """The CLI's context on the resolved workspace.

        The actor: the OS user (from the process's uid) as admin on a workspace that OS user
        made; on a shared workspace, the OS user's entry in the user table
        (:func:`caretwin.services.identity.cli_actor`). ``as_user`` with ``password_file``: that
        named user instead, after checking the password (commands that need a named person).
        """
        ws = Workspace.resolve(workspace_path)
        _cli_workspace.set(ws.root)
        if as_user is None and not ws.shared:
            return cls(workspace=ws, actor=Actor.os_user())  # argon2 and the user table unused
        from caretwin.services import identity

        if as_user is not None:
            if password_file is None:
                raise ConfigError(f"acting as {as_user!r} needs a password file")
            password = identity.read_password_file(password_file)
            actor = identity.authenticate_password(ws, as_user, password)
        else:
            actor = identity.cli_actor(ws)
        if actor.kind == identity.BREAK_GLASS:
            sys.stderr.write(
                f"*** BREAK-GLASS: {actor.name} is acting as admin on {ws.root}; "
                "every action is audited ***\n"
            )
        return cls(workspace=ws, actor=actor)

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.workspace)

    @contextmanager
    def operation(self, action: str, permission: Permission, target: str) -> Iterator[Operation]:
        """Check ``permission``, run the block, and audit the outcome.

        Denied: audits ``denied`` and raises :class:`AccessDenied` before the block runs.
        A long operation (:data:`LONG_ACTIONS`) audits ``started`` before the block.
        Block raises :class:`AccessDenied` (a finer check inside): audits ``denied``, re-raises.
        Block raises anything else: audits ``error`` with the error's class name and message,
        then re-raises the original exception (a full disk, whatever library met it, as
        :class:`~caretwin.errors.DiskFull`). Otherwise audits ``ok`` with ``op.details``.
        """
        op = Operation(action=action, target=target, permission=permission)
        if permission == Permission.DATA_READ:  # audited as a read of patient-level data
            op.details[PATIENT_DATA] = True
        try:
            require(self.actor, permission)
        except AccessDenied:
            self._record_quietly(action, target, "denied", {"permission": permission.value})
            raise
        # The lock is held shared while the operation runs, so recovery on opening the workspace
        # never takes this operation's committed-but-unrecorded snapshot for a crash's leftover;
        # what the operation writes (lake, runs, reports) is created owner-only.
        with operation_lock(self.workspace.root), private_files(self.workspace.shared):
            if action in LONG_ACTIONS:
                self._record(action, target, "started", {})
            try:
                yield op
            except AccessDenied as exc:
                # A finer-grained check inside the block (e.g. per run kind) is still a denial.
                details = {**op.details, "permission": exc.details.get("permission")}
                self._record_quietly(action, target, "denied", details)
                raise
            except Exception as exc:
                # A full disk surfaces as many libraries' errors: say it once, plainly.
                error = (
                    disk_full_error(exc, self.workspace.root, action) if is_disk_full(exc) else exc
                )
                details = dict(op.details)
                details["error"] = {
                    "type": error.__class__.__name__,
                    "message": str(error)[:_MAX_ERROR_MESSAGE],
                }
                self._record_quietly(action, target, "error", details)
                if error is exc:
                    raise
                raise error from exc
            self._record(action, target, "ok", op.details)

    def _record(self, action: str, target: str, outcome: str, details: dict[str, Any]) -> None:
        try:
            self.audit.record(self.actor, action, target, outcome, details)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            if outcome == "started":
                raise disk_full_error(exc, self.workspace.root, action) from exc
            raise DiskFull(  # the work is done: only its audit event is missing
                f"no space left on the disk holding the workspace {self.workspace.root}: "
                f"{action} finished but its audit event could not be written",
                details={"workspace": str(self.workspace.root), "action": action},
            ) from exc

    def _record_quietly(
        self, action: str, target: str, outcome: str, details: dict[str, Any]
    ) -> None:
        """Audit on the failure path: never let an audit failure hide the error being raised."""
        try:
            self.audit.record(self.actor, action, target, outcome, details)
        except Exception:
            log.exception("could not audit %s of %s on %s", outcome, action, target)
