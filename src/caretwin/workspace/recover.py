"""Opening a workspace repairs what a killed operation left between the lake and the database.

An ingest commits the lake first (one atomic swap of ``lake/catalog.json``) and records the
snapshot in the metadata database after. A process killed between the two leaves a snapshot the
lake holds but no record or audit event covers; re-ingesting the same data then reports "no
change", so nothing would ever repair it. :func:`reconcile` runs whenever a workspace is opened:
every snapshot the catalog lists but the database lacks is recorded (with the catalog's time,
source, counts and data hash) and audited with outcome ``recovered`` by the ``caretwin-recovery``
service actor. It runs only when no operation holds the workspace (see
:mod:`caretwin.workspace.locks`), and a failure to repair is logged, never a reason to refuse to
open the workspace.

The common case costs one small JSON read and one query; the lake package (DuckDB, Arrow) is
imported only when there is something to repair.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from caretwin.access import Actor
from caretwin.errors import CareTwinError
from caretwin.workspace.locks import when_idle

if TYPE_CHECKING:
    from caretwin.workspace.workspace import Workspace

__all__ = ["RECOVERY_ACTOR", "reconcile"]

log = logging.getLogger(__name__)

#: Who records what recovery finds (the person who ran the killed ingest is not known).
RECOVERY_ACTOR = Actor(name="caretwin-recovery", roles=frozenset(), kind="service")


def _catalog_snapshots(ws: Workspace) -> dict[str, dict[str, Any]]:
    try:
        raw = orjson.loads((ws.lake_dir / "catalog.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):  # no lake yet; an unreadable one is for readers
        return {}
    snaps = raw.get("snapshots") if isinstance(raw, dict) else None
    return {
        s["snapshot_id"]: s
        for s in (snaps if isinstance(snaps, list) else [])
        if isinstance(s, dict) and isinstance(s.get("snapshot_id"), str)
    }


def _unrecorded(ws: Workspace, listed: dict[str, dict[str, Any]]) -> list[str]:
    from caretwin.store.models import Snapshot

    with ws.session() as session:
        known = set(session.scalars(select(Snapshot.snapshot_id)))
    return [sid for sid in listed if sid not in known]  # catalog (commit) order


def reconcile(ws: Workspace) -> list[str]:
    """Record and audit the lake's unrecorded snapshots; returns their ids (oldest first)."""
    try:
        listed = _catalog_snapshots(ws)
        if not listed or not _unrecorded(ws, listed):
            return []
        with when_idle(ws.root) as idle:
            if not idle:  # an operation is running: what looks lost may be in flight
                return []
            missing = _unrecorded(ws, listed)
            for sid in missing:
                _recover(ws, listed[sid])
            return missing
    except (CareTwinError, OSError, ValueError) as exc:
        log.warning("could not reconcile the lake with the metadata database: %s", exc)
        return []


def _recover(ws: Workspace, raw: dict[str, Any]) -> None:
    from caretwin.audit.log import AuditLog
    from caretwin.lake.catalog import SnapshotEntry
    from caretwin.store.records import add_snapshot

    entry = SnapshotEntry.model_validate(raw)
    counts = {
        rtype: {
            "added": c.added + c.updated + c.deleted,  # the service's counts: all raw added
            "updated": c.updated,
            "deleted": c.deleted,
        }
        for rtype, c in entry.counts.items()
    }
    add_snapshot(
        ws,
        entry.snapshot_id,
        RECOVERY_ACTOR,
        source=entry.source,
        counts=counts,
        data_hash=entry.data_hash,
        created_at=datetime.fromisoformat(entry.created_at),
    )
    AuditLog(ws).record(
        RECOVERY_ACTOR,
        "data.ingest",
        entry.source or entry.snapshot_id,
        "recovered",
        {
            "snapshot_id": entry.snapshot_id,
            "data_hash": entry.data_hash,
            "added": entry.added,
            "quarantined": entry.quarantined,
            "committed_at": entry.created_at,
            "reason": "the lake holds this snapshot but no record or audit event covered it",
        },
    )
