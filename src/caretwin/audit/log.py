"""The append-only audit log.

Every service operation leaves one event here — allowed, denied or failed — so a reviewer can
answer "who ran what, on which model and data, and did it work" from the workspace alone.
:class:`AuditLog` deliberately offers no update or delete.

Details must carry ids, counts and hashes only, never PHI. Services are responsible for that;
as a second line of defence the values of keys that only ever hold personal data (birth dates,
addresses, phone numbers...) are redacted before they are stored.

Every event is linked into a keyed hash chain as it is written (:mod:`caretwin.audit.chain`),
appends serialised across processes; :meth:`AuditLog.verify` checks the chain and the signed
checkpoints kept outside the database (:mod:`caretwin.audit.verify`).
"""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from caretwin.access import Actor
from caretwin.audit.chain import GENESIS_ACTION, append
from caretwin.audit.checkpoints import checkpoint_due, write_checkpoint
from caretwin.audit.keys import AuditKey, load_key
from caretwin.audit.settings import AuditHome
from caretwin.audit.verify import ChainReport, verify_chain
from caretwin.store.models import AuditEvent, utcnow

__all__ = ["OUTCOMES", "PATIENT_DATA", "PHI_KEYS", "AuditEntry", "AuditLog", "sanitize_details"]

#: The details key that marks an event as a read of patient-level data (set by the service
#: layer on every operation needing ``data.read``; exported to FHIR as a Patient-role entity).
PATIENT_DATA = "patient_data"

log = logging.getLogger(__name__)

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
    #: Place in the hash chain and the event's HMAC (``None`` for events sealed by the genesis).
    seq: int | None = None
    hash: str | None = None

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
            seq=row.seq,
            hash=row.hash,
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
            "seq": self.seq,
            "hash": self.hash,
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
    """Write and read a workspace's audit events (``workspace``: the workspace, or anything with
    its ``session()``, ``root`` and ``audit_settings``; the audit log sits below the workspace,
    which repairs through it)."""

    def __init__(self, workspace: AuditHome) -> None:
        self.workspace = workspace
        self._key: AuditKey | None = None

    @property
    def key(self) -> AuditKey:
        if self._key is None:
            self._key = load_key(self.workspace)
        return self._key

    def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        outcome: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one event to the chain; ``outcome`` is one of :data:`OUTCOMES`."""
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
        key = self.key
        with self.workspace.session() as session:
            head = append(session, key, event)
        settings = self.workspace.audit_settings
        if checkpoint_due(self.workspace, head.seq):
            write_checkpoint(self.workspace, key, head.seq, head.seq, head.hash)
        if settings.syslog is not None:
            from caretwin.audit.syslog import forward

            forward(settings.syslog, event)

    def verify(self, *, checkpoint: bool = True) -> ChainReport:
        """Check the chain and its checkpoints; a clean chain gets a new checkpoint."""
        if self._key is None:  # a missing key is an error here, never a fresh one
            self._key = load_key(self.workspace, create=False)
        report = verify_chain(self.workspace, self._key)
        if report.ok and checkpoint and report.head_seq is not None and report.head_hash:
            written = write_checkpoint(
                self.workspace, self._key, report.head_seq, report.head_seq, report.head_hash
            )
            report = ChainReport(**{**report.__dict__, "written": [str(p) for p in written]})
        return report

    def list(
        self,
        limit: int = 100,
        action: str | None = None,
        actor: str | None = None,
        before: int | None = None,
    ) -> builtins.list[AuditEntry]:
        """The newest ``limit`` events, newest first, optionally filtered by action or actor;
        ``before`` an event id: only older events (a page's cursor).

        The chain's genesis (a seal, not an operation) is listed only when ``action`` asks
        for it (``audit.genesis``).
        """
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        else:
            stmt = stmt.where(AuditEvent.action != GENESIS_ACTION)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        if before is not None:
            stmt = stmt.where(AuditEvent.id < before)
        with self.workspace.session() as session:
            return [AuditEntry.from_row(row) for row in session.scalars(stmt)]
