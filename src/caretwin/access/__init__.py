"""Actors, roles and permissions.

Why a role table and not per-user grants: a hospital deployment maps its identity provider's
groups onto a handful of roles, and an auditor must be able to read off what each role may do
from one place — :data:`ROLE_PERMISSIONS`. Services never test role names; they ask
:func:`require` for a :class:`Permission`, so adding a role never touches a service.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import StrEnum

from caretwin.errors import AccessDenied

__all__ = ["ROLE_PERMISSIONS", "Actor", "Permission", "permissions_for", "require"]


class Permission(StrEnum):
    """One capability a service operation needs; the value is what the audit log records."""

    WORKSPACE_ADMIN = "workspace.admin"
    MODEL_READ = "model.read"
    SIMULATE = "sim.run"
    SYNTH = "data.synth"
    INGEST = "data.ingest"
    DATA_READ = "data.read"
    CALIBRATE = "model.calibrate"
    RUNS_READ = "runs.read"
    AUDIT_READ = "audit.read"


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    # Everything, including reading the audit trail and workspace administration.
    "admin": frozenset(Permission),
    # Builds and operates twins: brings data in, fits and runs models. Cannot read the audit
    # trail (that stays with governance) nor administer the workspace.
    "analyst": frozenset(
        {
            Permission.MODEL_READ,
            Permission.SIMULATE,
            Permission.SYNTH,
            Permission.INGEST,
            Permission.DATA_READ,
            Permission.CALIBRATE,
            Permission.RUNS_READ,
        }
    ),
    # Explores what-if scenarios on existing twins; never touches raw (possibly PHI) data.
    "clinician": frozenset({Permission.MODEL_READ, Permission.SIMULATE, Permission.RUNS_READ}),
    # Reads models and past results only.
    "viewer": frozenset({Permission.MODEL_READ, Permission.RUNS_READ}),
}


def permissions_for(roles: frozenset[str]) -> frozenset[Permission]:
    """The union of the permissions of ``roles``; unknown roles grant nothing (fail closed)."""
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


@dataclass(frozen=True)
class Actor:
    """Who performs an operation: a person (``kind="user"``) or a process (``"service"``)."""

    name: str
    roles: frozenset[str]
    kind: str = "user"

    @classmethod
    def os_user(cls) -> Actor:
        """The local OS user as an admin: the CLI runs on the operator's own workspace.

        ``getpass.getuser`` fails in some containers (no passwd entry, no env vars); the audit
        log still needs a name, so we fall back to ``"unknown"`` rather than refusing to run.
        """
        try:
            name = getpass.getuser()
        except (OSError, KeyError, ImportError):
            name = "unknown"
        return cls(name=name or "unknown", roles=frozenset({"admin"}))

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_for(self.roles)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def require(actor: Actor, permission: Permission) -> None:
    """Raise :class:`AccessDenied` unless ``actor`` holds ``permission``."""
    if not actor.can(permission):
        raise AccessDenied(
            f"{actor.name} (roles: {', '.join(sorted(actor.roles)) or 'none'}) "
            f"lacks permission {permission.value}",
            details={"actor": actor.name, "permission": permission.value},
        )
