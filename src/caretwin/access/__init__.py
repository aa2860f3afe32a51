"""Actors, roles and permissions.

Why a role table and not per-user grants: a hospital deployment maps its identity provider's
groups onto a handful of roles, and an auditor must be able to read off what each role may do
from one place — :data:`ROLE_PERMISSIONS`. Services never test role names; they ask
:func:`require` for a :class:`Permission`, so adding a role never touches a service.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from enum import StrEnum

from caretwin.errors import AccessDenied

__all__ = [
    "PERMISSION_MEANING",
    "ROLES",
    "ROLE_PERMISSIONS",
    "Actor",
    "Permission",
    "os_login",
    "permissions_for",
    "require",
]


class Permission(StrEnum):
    """One capability a service operation needs; the value is what the audit log records."""

    WORKSPACE_ADMIN = "workspace.admin"
    USERS_ADMIN = "users.admin"
    TOKENS_MANAGE = "tokens.manage"
    SOURCES_MANAGE = "sources.manage"
    MODEL_READ = "model.read"
    SIMULATE = "sim.run"
    SCENARIOS_EDIT = "scenarios.edit"
    SYNTH = "data.synth"
    INGEST = "data.ingest"
    DATA_READ = "data.read"
    CALIBRATE = "model.calibrate"
    RUNS_READ = "runs.read"
    AUDIT_READ = "audit.read"
    SCHEDULES_MANAGE = "schedules.manage"
    VALIDATE = "validation.run"
    EVIDENCE_SIGN = "evidence.sign"


_P = Permission

#: What each permission lets a holder do, one line each: the matrix in ``docs/security.md``.
PERMISSION_MEANING: dict[Permission, str] = {
    _P.WORKSPACE_ADMIN: "create and administer the workspace",
    _P.USERS_ADMIN: "add, disable users; set their roles and passwords",
    _P.TOKENS_MANAGE: "create, list and revoke API tokens",
    _P.SOURCES_MANAGE: "add, change and remove external data sources",
    _P.MODEL_READ: "read twin definitions, examples, views",
    _P.SIMULATE: "run simulations, experiments, forecasts",
    _P.SCENARIOS_EDIT: "save and archive scenarios (parameter changes) on a model",
    _P.SYNTH: "generate synthetic data",
    _P.INGEST: "bring data into the lake (ingest, pull, HL7 listen)",
    _P.DATA_READ: "read patient-level data: lake, snapshots, quarantine, views",
    _P.CALIBRATE: "fit a model from the lake",
    _P.RUNS_READ: "read runs, reports, manifests; reproduce runs",
    _P.AUDIT_READ: "read the audit trail",
    _P.SCHEDULES_MANAGE: "add, pause and remove scheduled jobs (run as their owner)",
    _P.VALIDATE: "run validation plans and the verification suite; record evidence",
    _P.EVIDENCE_SIGN: "sign off validation evidence (face validity, cross-model, verification)",
}

# Defining a scenario (new capacities, arrival multipliers, durations) goes with running it:
# the people who ask "what if" write the "if" themselves.
_SCENARIOS = frozenset({_P.MODEL_READ, _P.SIMULATE, _P.SCENARIOS_EDIT, _P.RUNS_READ})

#: The one authorisation policy: role -> permissions. Deny by default: a permission not listed
#: for a role is refused, and a role not listed here grants nothing.
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    # Everything, including reading the audit trail and administering users and the workspace.
    "admin": frozenset(Permission),
    # Builds and operates twins on one workspace (the single-analyst set-up of earlier
    # releases): brings data in, fits and runs models. No audit trail, no administration.
    "analyst": _SCENARIOS
    | {_P.SYNTH, _P.INGEST, _P.DATA_READ, _P.CALIBRATE, _P.SCHEDULES_MANAGE, _P.VALIDATE},
    # Explores what-if scenarios on existing twins; never touches raw (possibly PHI) data.
    # Reviews a twin's face validity and signs the evidence.
    "clinician": _SCENARIOS | {_P.EVIDENCE_SIGN},
    # Models devices and units: fits and runs models, synthesises test data; no patient data.
    "clinical_engineer": _SCENARIOS | {_P.CALIBRATE, _P.SYNTH, _P.SCHEDULES_MANAGE, _P.VALIDATE},
    # Runs the data platform: sources, ingestion, the lake (patient-level), synthetic data.
    "data_engineer": frozenset(
        {
            _P.SOURCES_MANAGE,
            _P.INGEST,
            _P.DATA_READ,
            _P.SYNTH,
            _P.MODEL_READ,
            _P.RUNS_READ,
            _P.SCHEDULES_MANAGE,
        }
    ),
    # A supplier testing its device or model in the twin: scenarios only, no patient data.
    "vendor": _SCENARIOS,
    # Plans capacity: scenarios and their reports.
    "program_manager": _SCENARIOS,
    # Committee member: reviews models, results and the audit trail; changes nothing.
    # Signing validation evidence is its review, recorded; it changes no model.
    "governance": frozenset({_P.MODEL_READ, _P.RUNS_READ, _P.AUDIT_READ, _P.EVIDENCE_SIGN}),
    # Reviews data quality (patient-level) and results.
    "quality": frozenset({_P.MODEL_READ, _P.RUNS_READ, _P.DATA_READ}),
    # Reads results and the audit trail for agreements and disputes.
    "legal": frozenset({_P.RUNS_READ, _P.AUDIT_READ}),
    # Independent review of who did what: the audit trail, runs and models.
    "auditor": frozenset({_P.AUDIT_READ, _P.RUNS_READ, _P.MODEL_READ}),
    # Reads models and past results only.
    "viewer": frozenset({_P.MODEL_READ, _P.RUNS_READ}),
}

#: Every role name a user may be given.
ROLES: tuple[str, ...] = tuple(ROLE_PERMISSIONS)


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
    #: An API token's scopes: when set, the actor holds only these of its roles' permissions.
    scopes: frozenset[Permission] | None = None

    @classmethod
    def os_user(cls) -> Actor:
        """The local OS user as an admin: the CLI runs on the operator's own workspace."""
        return cls(name=os_login(), roles=frozenset({"admin"}))

    def to_dict(self) -> dict[str, object]:
        scopes = None if self.scopes is None else sorted(p.value for p in self.scopes)
        return {"name": self.name, "roles": sorted(self.roles), "kind": self.kind, "scopes": scopes}

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = permissions_for(self.roles)
        return granted if self.scopes is None else granted & self.scopes

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def os_login() -> str:
    """The login name of the process's real uid.

    Never ``$USER``/``$LOGNAME`` (what ``getpass.getuser`` reads first): anyone can set those,
    and the audit log's actor must not be renamed by an environment variable. A uid with no
    passwd entry (some containers) is named ``uid:N`` rather than refused.
    """
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def require(actor: Actor, permission: Permission) -> None:
    """Raise :class:`AccessDenied` unless ``actor`` holds ``permission``."""
    if not actor.can(permission):
        raise AccessDenied(
            f"{actor.name} (roles: {', '.join(sorted(actor.roles)) or 'none'}) "
            f"lacks permission {permission.value}",
            details={"actor": actor.name, "permission": permission.value},
        )
