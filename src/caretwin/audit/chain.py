"""The hash chain: every event's HMAC covers its content and the previous event's hash.

An append is serialised across processes and machines so the chain never forks: on SQLite the
unit of work starts with ``BEGIN IMMEDIATE`` (the database's one write lock, taken before the
head is read); on PostgreSQL with ``pg_advisory_xact_lock`` (released at commit or rollback).
Inside that transaction the new event reads the head (``seq``, ``hash``) and links to it.

Events written before the chain existed (``seq`` null) are sealed by the chain's first event,
``audit.genesis``, whose details carry their count, last id and a hash over their content.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from caretwin.audit.keys import AuditKey
from caretwin.store.models import AuditEvent, utcnow

__all__ = [
    "GENESIS_ACTION",
    "GENESIS_ACTOR",
    "ZERO_HASH",
    "ChainHead",
    "append",
    "event_hash",
    "lock_chain",
    "sealed_hash",
]

GENESIS_ACTION = "audit.genesis"
GENESIS_ACTOR = "caretwin-audit"
ZERO_HASH = "0" * 64
# pg_advisory_xact_lock takes a bigint: a fixed one for "the audit chain" (b"ctaudit1").
_PG_LOCK = int.from_bytes(b"ctaudit1", "big")


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


def canonical(row: AuditEvent, prev_hash: str, key_id: str) -> bytes:
    """The bytes an event's HMAC covers: its content, the key id and the previous hash.

    ``seq`` is left out on purpose: an event's place is its link to the previous hash, so a
    renumbered or swapped row is reported as reordered (or a gap as deleted), not as edited.
    """
    return orjson.dumps(
        {
            "at": _iso(row.at),
            "actor": row.actor,
            "roles": list(row.roles or []),
            "action": row.action,
            "target": row.target,
            "outcome": row.outcome,
            "details": row.details or {},
            "key_id": key_id,
            "prev": prev_hash,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def event_hash(key: AuditKey, row: AuditEvent, prev_hash: str) -> str:
    return key.sign(canonical(row, prev_hash, key.key_id))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def lock_chain(session: Session) -> None:
    """Take the chain's write lock for the rest of ``session``'s transaction."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    # Other databases: the unique seq index refuses a fork (the loser's append fails).


def head(session: Session) -> ChainHead | None:
    row = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.seq.is_not(None))
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    if row is None or row[0] is None:
        return None
    return ChainHead(int(row[0]), str(row[1]))


def sealed_hash(rows: list[AuditEvent]) -> str:
    """A SHA-256 over the pre-chain events, in id order (their ids included)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(str(row.id).encode() + b"\x00")
        digest.update(canonical(row, "", "") + b"\n")
    return digest.hexdigest()


def _genesis(session: Session, key: AuditKey) -> ChainHead:
    before = list(
        session.scalars(select(AuditEvent).where(AuditEvent.seq.is_(None)).order_by(AuditEvent.id))
    )
    row = AuditEvent(
        at=utcnow(),
        actor=GENESIS_ACTOR,
        roles=[],
        action=GENESIS_ACTION,
        target="audit",
        outcome="ok",
        details={
            "sealed_events": len(before),
            "sealed_last_id": before[-1].id if before else None,
            "sealed_hash": sealed_hash(before),
        },
    )
    return _link(session, key, row, None)


def _link(session: Session, key: AuditKey, row: AuditEvent, prev: ChainHead | None) -> ChainHead:
    row.seq = 1 if prev is None else prev.seq + 1
    row.prev_hash = ZERO_HASH if prev is None else prev.hash
    row.key_id = key.key_id
    row.hash = event_hash(key, row, row.prev_hash)
    session.add(row)
    session.flush()
    return ChainHead(row.seq, row.hash)


def append(session: Session, key: AuditKey, row: AuditEvent) -> ChainHead:
    """Link ``row`` to the chain's head (sealing older events first if there is no chain)."""
    lock_chain(session)
    prev = head(session)
    if prev is None:
        prev = _genesis(session, key)
    return _link(session, key, row, prev)
