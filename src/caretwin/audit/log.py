"""The append-only audit log.

Every service operation leaves one event here — allowed, denied or failed — so a reviewer can
answer "who ran what, on which model and data, and did it work" from the workspace alone.
:class:`AuditLog` deliberately offers no update or delete.

Details must carry ids, counts and hashes only, never PHI. Services are responsible for that;
as a second line of defence the values of keys that only ever hold personal data (birth dates,
addresses, phone numbers...) are redacted before they are stored.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from caretwin.access import Actor
from caretwin.store.models import AuditEvent, utcnow
from caretwin.store.session import SessionSource

__all__ = ["OUTCOMES", "PHI_KEYS", "AuditEntry", "AuditLog", "sanitize_details"]

#: ``started``: a long operation began (a kill leaves it without an end event);
#: ``recovered``: found and recorded by recovery on opening the workspace
#: (:mod:`caretwin.workspace.recover`).
OUTCOMES = frozenset({"started", "ok", "denied", "error", "recovered"})

# Exact (case-insensitive) keys whose values are personal data in FHIR or CMMS inputs.
PHI_KEYS = frozenset(
    {
        "birthdate",
        "birth_date",
        "address",
        "telecom",
        "phone",
        "email",
        "ssn",
        "given",
        "family",
        "patient_name",
        "mrn",
    }
)
REDACTED = "[redacted]"


@dataclass(frozen=True)
class AuditEntry:
    """One audit event as callers see it (a plain value, detached from any DB session)."""

    id: int
    at: datetime
    actor: str
    roles: tuple[str, ...]
    action: str
    target: str
    outcome: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: AuditEvent) -> AuditEntry:
        return cls(
            id=row.id,
            at=row.at,
            actor=row.actor,
            roles=tuple(row.roles),
            action=row.action,
            target=row.target,
            outcome=row.outcome,
            details=dict(row.details),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "roles": list(self.roles),
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "details": self.details,
        }


def sanitize_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """Make ``details`` JSON-safe (paths, numpy scalars, datetimes) and redact PHI-only keys."""
    if not details:
        return {}
    encoded = orjson.dumps(
        details, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    )
    plain = orjson.loads(encoded)
    redacted = _redact(plain)
    assert isinstance(redacted, dict)
    return redacted


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (REDACTED if k.lower() in PHI_KEYS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


class AuditLog:
    """Write and read a workspace's audit events (``workspace``: the workspace, or anything
    with its ``session()``; the audit log sits below the workspace, which repairs through it)."""

    def __init__(self, workspace: SessionSource) -> None:
        self.workspace = workspace

    def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        outcome: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one event; ``outcome`` is one of :data:`OUTCOMES`."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
        event = AuditEvent(
            at=utcnow(),
            actor=actor.name,
            roles=sorted(actor.roles),
            action=action,
            target=target[:500],
            outcome=outcome,
            details=sanitize_details(details),
        )
        with self.workspace.session() as session:
            session.add(event)

    def list(
        self, limit: int = 100, action: str | None = None, actor: str | None = None
    ) -> builtins.list[AuditEntry]:
        """The newest ``limit`` events, newest first, optionally filtered by action or actor."""
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        with self.workspace.session() as session:
            return [AuditEntry.from_row(row) for row in session.scalars(stmt)]
