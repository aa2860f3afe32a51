"""Opening a workspace repairs what a killed operation left behind.

An ingest commits the lake first (one atomic swap of ``lake/catalog.json``) and records the
snapshot in the metadata database after. A process killed between the two leaves a snapshot the
lake holds but no record or audit event covers; re-ingesting the same data then reports "no
change", so nothing would ever repair it. :func:`reconcile` runs whenever a workspace is opened:
every snapshot the catalog lists but the database lacks is recorded (with the catalog's time,
source, counts and data hash) and audited with outcome ``recovered`` by the ``caretwin-recovery``
service actor. Likewise a run whose process was killed stays ``running`` for ever; such a run
(its folder in this workspace) is closed as ``failed`` with error ``Interrupted``, its manifest
written, and audited ``recovered``. Recovery runs only when no operation holds the workspace
(see :mod:`caretwin.workspace.locks`): every snapshot commit and every run happens inside one, so
what recovery finds then cannot be in flight. A failure to repair is logged, never a reason to
refuse to open the workspace.

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


def _unfinished_runs(ws: Workspace) -> list[str]:
    from caretwin.store.models import Run

    with ws.session() as session:
        ids = list(session.scalars(select(Run.run_id).where(Run.status == "running")))
    # only this workspace folder's runs (a shared database may serve other folders' runs)
    return [run_id for run_id in ids if (ws.runs_dir / run_id).is_dir()]


def reconcile(ws: Workspace) -> list[str]:
    """Record the lake's unrecorded snapshots and close killed runs, each audited
    ``recovered``; returns the snapshot and run ids repaired (oldest first)."""
    try:
        listed = _catalog_snapshots(ws)
        lost = bool(listed) and bool(_unrecorded(ws, listed))
        if not lost and not _unfinished_runs(ws):
            return []
        with when_idle(ws.root) as idle:
            if not idle:  # an operation is running: what looks lost may be in flight
                return []
            missing = _unrecorded(ws, listed) if listed else []
            for sid in missing:
                _recover(ws, listed[sid])
            runs = _unfinished_runs(ws)
            for run_id in runs:
                _close_run(ws, run_id)
            return missing + runs
    except (CareTwinError, OSError, ValueError) as exc:
        log.warning("could not reconcile the workspace after an interruption: %s", exc)
        return []


def _close_run(ws: Workspace, run_id: str) -> None:
    from caretwin.runs.manifest import MANIFEST_FILE, Manifest
    from caretwin.store.models import Run, utcnow

    with ws.session() as session:
        row = session.get(Run, run_id)
        if row is None or row.status != "running":
            return
        manifest = Manifest.model_validate(row.manifest)
        manifest.status = "failed"
        manifest.finished_at = utcnow()
        manifest.error = {
            "type": "Interrupted",
            "message": "the process running it ended before it finished (killed?); "
            "closed when the workspace was next opened",
        }
        data = manifest.model_dump(mode="json")
        row.status, row.finished_at, row.manifest = "failed", manifest.finished_at, data
        kind = row.kind
    path = ws.runs_dir / run_id / MANIFEST_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    from caretwin.audit.log import AuditLog

    AuditLog(ws).record(
        RECOVERY_ACTOR,
        "runs.recover",
        run_id,
        "recovered",
        {"run_id": run_id, "kind": kind, "status": "failed", "reason": "interrupted"},
    )


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
