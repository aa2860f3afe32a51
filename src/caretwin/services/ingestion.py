"""Ingestion as an audited service: load files into the workspace's lake and record the snapshot.

The lake commit comes first and the snapshot record second: the lake's own catalog already
lists the snapshot, so a store failure after the commit leaves consistent data and an ``error``
audit event, never a recorded snapshot without data. An ingest that adds nothing (``no_change``)
records no snapshot: its id would be the empty-set hash, which cannot name one lake state.
Audit details carry ids, counts and hashes only, never record content (PHI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from caretwin.access import Permission
from caretwin.faults import fault_point
from caretwin.ingest import IngestReport, ingest_paths
from caretwin.lake import Lake
from caretwin.services.context import ServiceContext
from caretwin.store import add_snapshot

__all__ = ["IngestReport", "ingest", "lake_counts", "quarantine_rows"]

_TARGET_CHARS = 500
QUARANTINE_COLUMNS = ("snapshot_id", "source_file", "line", "resource_type", "reason")


def _target(paths: list[Path]) -> str:
    return ", ".join(p.as_posix() for p in paths)[:_TARGET_CHARS]


def ingest(ctx: ServiceContext, paths: list[Path]) -> IngestReport:
    """Ingest FHIR NDJSON/Bundles and work-order CSV files or folders into the lake."""
    target = _target(paths)
    with ctx.operation("data.ingest", Permission.INGEST, target=target) as op:
        report = ingest_paths(ctx.workspace.lake_dir, paths)
        fault_point("ingest.after_lake_commit")  # tests: a kill here is repaired on next open
        counts = {t: c.model_dump() for t, c in report.counts.items()}
        op.details.update(
            {
                "snapshot_id": report.snapshot_id,
                "no_change": report.no_change,
                "data_hash": report.data_hash,
                "files": len(report.files),
                "records": report.records,
                "added": report.added,
                "quarantined": report.quarantined,
                "seconds": report.seconds,
            }
        )
        if not report.no_change:
            add_snapshot(
                ctx.workspace,
                report.snapshot_id,
                ctx.actor,
                source=target,
                counts=counts,
                data_hash=report.data_hash,
            )
    # Every snapshot gets its data-quality report at once (audited and recorded on its own),
    # so a reviewer never meets data nobody has checked.
    from caretwin.services.snapshots import quality_after_ingest

    quality_after_ingest(ctx, report)
    return report


def lake_counts(ctx: ServiceContext) -> dict[str, Any]:
    """Row count per lake table and the lake's data hash."""
    with ctx.operation("data.tables", Permission.DATA_READ, target="lake") as op:
        lake = Lake(ctx.workspace.lake_dir)
        result = {"tables": lake.counts(), "data_hash": lake.data_hash()}
        op.details["data_hash"] = result["data_hash"]
    return result


def quarantine_rows(ctx: ServiceContext, limit: int = 50) -> list[dict[str, Any]]:
    """Quarantine rows by file and line, without the excerpt (it may hold PHI)."""
    with ctx.operation("data.quarantine", Permission.DATA_READ, target="lake") as op:
        lake = Lake(ctx.workspace.lake_dir)
        cols = ", ".join(QUARANTINE_COLUMNS)
        table = lake.query(
            f"SELECT {cols} FROM quarantine ORDER BY source_file, line LIMIT {int(limit)}"
        )
        rows: list[dict[str, Any]] = table.to_pylist()
        op.details["rows"] = len(rows)
    return rows
