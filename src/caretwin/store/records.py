"""Lake snapshots in the metadata database.

Ingestion records one snapshot per successful load so calibration and runs can name the exact
data they used (``data_snapshot_hash`` in a run manifest). Callers get plain frozen dataclasses,
never ORM objects, so nothing outside :mod:`caretwin.store` depends on a live session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from caretwin.access import Actor
from caretwin.errors import StoreError
from caretwin.store.models import Snapshot, utcnow
from caretwin.store.session import SessionSource

__all__ = ["SnapshotInfo", "add_snapshot", "get_snapshot", "latest_snapshot", "list_snapshots"]


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: str
    created_at: datetime
    actor: str
    source: str
    data_hash: str
    counts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Snapshot) -> SnapshotInfo:
        return cls(
            snapshot_id=row.snapshot_id,
            created_at=row.created_at,
            actor=row.actor,
            source=row.source,
            data_hash=row.data_hash,
            counts=dict(row.counts),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "created_at": self.created_at.isoformat(),
            "actor": self.actor,
            "source": self.source,
            "data_hash": self.data_hash,
            "counts": self.counts,
        }


def add_snapshot(
    ws: SessionSource,
    snapshot_id: str,
    actor: Actor | str,
    source: str,
    counts: dict[str, Any],
    data_hash: str,
    created_at: datetime | None = None,
) -> SnapshotInfo:
    """Record a lake snapshot and return it (``created_at``: now unless given, e.g. recovered).

    Idempotent for re-ingesting identical data: the same ``snapshot_id`` with the same
    ``data_hash`` returns the existing record. The same id with a different hash is a
    :class:`StoreError`, because a snapshot id must always denote the same data.
    """
    actor_name = actor.name if isinstance(actor, Actor) else actor
    with ws.session() as session:
        existing = session.get(Snapshot, snapshot_id)
        if existing is not None:
            if existing.data_hash != data_hash:
                raise StoreError(
                    f"snapshot {snapshot_id} already exists with different data",
                    details={"snapshot_id": snapshot_id},
                )
            return SnapshotInfo.from_row(existing)
        row = Snapshot(
            snapshot_id=snapshot_id,
            created_at=created_at or utcnow(),
            actor=actor_name,
            source=source,
            counts=dict(counts),
            data_hash=data_hash,
        )
        session.add(row)
        session.flush()
        return SnapshotInfo.from_row(row)


def list_snapshots(ws: SessionSource, limit: int | None = None) -> list[SnapshotInfo]:
    """Snapshots, newest first."""
    stmt = select(Snapshot).order_by(Snapshot.created_at.desc(), Snapshot.snapshot_id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    with ws.session() as session:
        return [SnapshotInfo.from_row(row) for row in session.scalars(stmt)]


def get_snapshot(ws: SessionSource, snapshot_id: str) -> SnapshotInfo | None:
    with ws.session() as session:
        row = session.get(Snapshot, snapshot_id)
        return SnapshotInfo.from_row(row) if row is not None else None


def latest_snapshot(ws: SessionSource) -> SnapshotInfo | None:
    """The newest snapshot, e.g. to fill a run manifest's ``data_snapshot_hash``."""
    found = list_snapshots(ws, limit=1)
    return found[0] if found else None
