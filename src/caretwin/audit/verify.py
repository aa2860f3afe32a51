"""Checking the chain and the checkpoints; the first problem is named with its kind.

Kinds: ``edited`` (an event's content no longer matches its HMAC), ``deleted`` (a gap in the
sequence, or an event that links to one no longer there), ``inserted`` (a row outside the chain,
a duplicate sequence number, or a row the chain runs around), ``reordered`` (an event linked to,
or holding the content of, another place in the chain, or ids out of sequence order),
``truncated`` (the chain is shorter than a checkpoint written earlier) and ``checkpoint`` (a
checkpoint line whose signature does not check). What is *not* detected is in docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from caretwin.audit.chain import GENESIS_ACTION, ZERO_HASH, canonical, sealed_hash
from caretwin.audit.checkpoints import Checkpoint, read_checkpoints
from caretwin.audit.keys import AuditKey
from caretwin.audit.settings import AuditHome
from caretwin.store.models import AuditEvent

__all__ = ["KINDS", "ChainProblem", "ChainReport", "verify_chain"]

KINDS = ("edited", "deleted", "inserted", "reordered", "truncated", "checkpoint")


@dataclass(frozen=True)
class ChainProblem:
    kind: str
    message: str
    #: The database id of the event named (``None`` for a deleted one: it is gone).
    event_id: int | None = None
    #: Its place in the chain (for a deleted event, the missing sequence number).
    seq: int | None = None


@dataclass(frozen=True)
class ChainReport:
    events: int
    chained: int
    sealed: int
    head_seq: int | None
    head_hash: str | None
    checkpoints: int
    problem: ChainProblem | None = None
    #: Checkpoints the positive verification wrote (empty when a problem was found).
    written: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def _valid(key: AuditKey, row: AuditEvent, prev_hash: str | None) -> bool:
    if row.hash is None or prev_hash is None:
        return False
    return key.check(canonical(row, prev_hash, row.key_id or ""), row.hash)


def _span(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seq {first}-{last}"


def _name(row: AuditEvent) -> str:
    return f"event #{row.id} (seq {row.seq}, {row.action} by {row.actor})"


def _walk(key: AuditKey, chain: list[AuditEvent]) -> ChainProblem | None:
    hashes = {row.hash: row for row in chain if row.hash}
    prev: AuditEvent | None = None
    for i, row in enumerate(chain):
        assert row.seq is not None
        expected = i + 1
        if row.seq > expected:
            after = f" after {_name(prev)}" if prev is not None else " at the start"
            gone = _span(expected, row.seq - 1)
            return ChainProblem("deleted", f"{gone} missing{after}", None, expected)
        if row.seq < expected:
            return ChainProblem(  # the first holder of this seq checked out above
                "inserted", f"{_name(row)} duplicates sequence number {row.seq}", row.id, row.seq
            )
        expected_prev = ZERO_HASH if prev is None else prev.hash
        nxt = chain[i + 1] if i + 1 < len(chain) else None
        if row.key_id and row.key_id != key.key_id:
            return ChainProblem(
                "edited",
                f"{_name(row)} names key {row.key_id}, not this workspace's key {key.key_id}",
                row.id,
                row.seq,
            )
        if not _valid(key, row, row.prev_hash):
            moved = _holds_other(key, row, chain, i)
            if moved is not None:
                return ChainProblem(
                    "reordered",
                    f"{_name(row)} holds the content of seq {moved.seq}",
                    row.id,
                    row.seq,
                )
            if nxt is not None and nxt.prev_hash == row.hash:
                return ChainProblem(
                    "edited", f"{_name(row)} no longer matches its HMAC", row.id, row.seq
                )
            if nxt is not None and nxt.prev_hash == expected_prev:
                return ChainProblem(
                    "inserted",
                    f"{_name(row)} is not part of the chain (the next event links past it)",
                    row.id,
                    row.seq,
                )
            return ChainProblem(
                "edited",
                f"{_name(row)} does not match its HMAC (edited, or inserted without the key)",
                row.id,
                row.seq,
            )
        if row.prev_hash != expected_prev:
            other = hashes.get(row.prev_hash or "")
            if other is not None:
                return ChainProblem(
                    "reordered",
                    f"{_name(row)} belongs after event #{other.id} (seq {other.seq})",
                    row.id,
                    row.seq,
                )
            return ChainProblem(
                "deleted",
                f"the event before {_name(row)} is missing (it links to an event not in the table)",
                None,
                row.seq - 1,
            )
        if prev is not None and row.id < prev.id:
            return ChainProblem(
                "reordered",
                f"{_name(row)} has a smaller id than seq {prev.seq} before it (rows swapped)",
                row.id,
                row.seq,
            )
        if i == 0 and row.action != GENESIS_ACTION:
            return ChainProblem("edited", f"{_name(row)} should be the genesis", row.id, row.seq)
        prev = row
    return None


def _holds_other(
    key: AuditKey, row: AuditEvent, chain: list[AuditEvent], i: int
) -> AuditEvent | None:
    """A neighbour whose (prev_hash, hash) ``row``'s content verifies under: swapped content."""
    for j in range(max(0, i - 3), min(len(chain), i + 4)):
        other = chain[j]
        if j != i and other.hash and _valid(key, _with_links(row, other), other.prev_hash):
            return other
    return None


def _with_links(row: AuditEvent, other: AuditEvent) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor=row.actor,
        roles=row.roles,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        details=row.details,
        seq=other.seq,
        prev_hash=other.prev_hash,
        hash=other.hash,
        key_id=other.key_id,
    )


def _sealed(rows: list[AuditEvent], genesis: AuditEvent) -> ChainProblem | None:
    before = [r for r in rows if r.seq is None and r.id < genesis.id]
    after = [r for r in rows if r.seq is None and r.id > genesis.id]
    if after:
        row = after[0]
        return ChainProblem(
            "inserted", f"event #{row.id} ({row.action}) is outside the chain", row.id, None
        )
    sealed = genesis.details or {}
    count = sealed.get("sealed_events")
    if count != len(before) or sealed.get("sealed_hash") != sealed_hash(before):
        kind = (
            "edited"
            if count == len(before)
            else ("deleted" if len(before) < (count or 0) else "inserted")
        )
        return ChainProblem(
            kind,
            f"the {count} events sealed by the genesis (event #{genesis.id}) no longer match "
            f"its hash ({len(before)} found)",
            genesis.id,
            genesis.seq,
        )
    return None


def _checkpoints(chain: list[AuditEvent], cps: list[Checkpoint]) -> ChainProblem | None:
    by_seq = {row.seq: row for row in chain}
    head = chain[-1].seq if chain else 0
    assert head is not None
    for cp in cps:
        if not cp.valid:
            return ChainProblem(
                "checkpoint",
                f"checkpoint {cp.source} has a bad signature (forged, or another key)",
            )
    for cp in sorted(cps, key=lambda c: -c.head_seq):
        if cp.head_seq > head:
            return ChainProblem(
                "truncated",
                f"{_span(head + 1, cp.head_seq)} deleted: checkpoint {cp.source} of {cp.at} "
                f"recorded {cp.head_seq} events, the table has {head}",
                None,
                head + 1,
            )
        row = by_seq.get(cp.head_seq)
        if row is not None and row.hash != cp.head_hash:
            return ChainProblem(
                "edited",
                f"{_name(row)} differs from checkpoint {cp.source}: the chain was rewritten",
                row.id,
                row.seq,
            )
    return None


def verify_chain(home: AuditHome, key: AuditKey) -> ChainReport:
    """Check every event and every checkpoint; the report names the first problem found."""
    # Checkpoints first: one written meanwhile (after its event's commit) by another process
    # would otherwise be ahead of the rows read, and look like the newest rows deleted.
    cps = read_checkpoints(home, key)
    with home.session() as session:
        rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        session.expunge_all()
    chain = sorted((r for r in rows if r.seq is not None), key=lambda r: (r.seq or 0, r.id))
    problem = _walk(key, chain) if chain else None
    if problem is None and chain and chain[0].action == GENESIS_ACTION:
        problem = _sealed(rows, chain[0])
    if problem is None:
        problem = _checkpoints(chain, cps)
    head = chain[-1] if chain else None
    return ChainReport(
        events=len(rows),
        chained=len(chain),
        sealed=len(rows) - len(chain),
        head_seq=head.seq if head else None,
        head_hash=head.hash if head else None,
        checkpoints=len(cps),
        problem=problem,
    )
