"""Ingestion as an audited service: load files into the workspace's lake and record the snapshot.

The lake commit comes first and the snapshot record second: the lake's own catalog already
lists the snapshot, so a store failure after the commit leaves consistent data and an ``error``
audit event, never a recorded snapshot without data. An ingest that adds nothing (``no_change``)
records no snapshot: its id would be the empty-set hash, which cannot name one lake state.
Audit details carry ids, counts and hashes only, never record content (PHI).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from caretwin.access import Permission
from caretwin.errors import DataError
from caretwin.faults import fault_point
from caretwin.ingest import IngestReport, ingest_paths
from caretwin.ingest.plugin import expected_inputs
from caretwin.ingest.report import QUARANTINE_HINT
from caretwin.lake import Lake
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult
from caretwin.store import add_snapshot

__all__ = [
    "QUARANTINE_HINT", "IngestReport", "LakeCounts", "QuarantineKey", "QuarantineRow", "ingest",
    "ingest_outcome_error", "lake_counts", "quarantine_id", "quarantine_key", "quarantine_rows",
]  # fmt: skip

_TARGET_CHARS = 500
QUARANTINE_COLUMNS = ("snapshot_id", "source_file", "line", "resource_type", "reason")


def _target(paths: list[Path]) -> str:
    return ", ".join(p.as_posix() for p in paths)[:_TARGET_CHARS]


def ingest(
    ctx: ServiceContext, paths: list[Path], checkpoint: Callable[[], None] | None = None
) -> IngestReport:
    """Ingest FHIR NDJSON/Bundles and work-order CSV files or folders into the lake.

    ``checkpoint`` (a background job's cancel check) is called at safe points before the lake
    commit; what it raises leaves the lake unchanged.

    Finding no supported file, or quarantining every record, is not an error here (a pull whose
    export was empty calls this too); the command line turns both into exit code 4
    (:func:`ingest_outcome_error`).
    """
    target = _target(paths)
    with ctx.operation("data.ingest", Permission.INGEST, target=target) as op:
        report = ingest_paths(ctx.workspace.lake_dir, paths, checkpoint=checkpoint)
        fault_point("ingest.after_lake_commit")  # tests: a kill here is repaired on next open
        record_ingest(ctx, op.details, report, target)
    after_ingest(ctx, report)
    return report


def ingest_outcome_error(paths: list[Path], report: IngestReport) -> DataError | None:
    """The data error of an ingest a user asked for that found nothing to read, or whose every
    record was quarantined (the quarantine is committed: its reasons can be read)."""
    if not report.files:
        where = _target(paths)[:300]
        listed = f"; skipped: {', '.join(report.skipped[:10])}" if report.skipped else ""
        return DataError(
            f"no supported input file in {where} (expected {expected_inputs()}){listed}",
            details={"skipped": report.skipped},
        )
    if report.all_quarantined:
        return DataError(
            f"every record was quarantined ({report.quarantined}); nothing landed. "
            f"{QUARANTINE_HINT}",
            details={"report": report.model_dump(mode="json")},
        )
    return None


def record_ingest(
    ctx: ServiceContext, details: dict[str, Any], report: IngestReport, target: str
) -> None:
    """Audit details (ids and counts only, never content) and the snapshot record."""
    details.update(
        {
            "snapshot_id": report.snapshot_id,
            "no_change": report.no_change,
            "data_hash": report.data_hash,
            "files": len(report.files),
            "skipped": len(report.skipped),
            "records": report.records,
            "added": report.added,
            "quarantined": report.quarantined,
            "quarantine_removed": report.quarantine_rows_removed,
            "seconds": report.seconds,
        }
    )
    if not report.no_change:
        counts = {t: c.model_dump() for t, c in report.counts.items()}
        add_snapshot(
            ctx.workspace,
            report.snapshot_id,
            ctx.actor,
            source=target,
            counts=counts,
            data_hash=report.data_hash,
        )


def after_ingest(ctx: ServiceContext, report: IngestReport) -> None:
    """Every snapshot gets its data-quality report at once (audited and recorded on its own),
    so a reviewer never meets data nobody has checked."""
    from caretwin.services.snapshots import quality_after_ingest

    quality_after_ingest(ctx, report)


class LakeCounts(ServiceResult):
    """Row count per lake table and the lake's data hash."""

    tables: dict[str, int]
    data_hash: str


class QuarantineRow(ServiceResult):
    """One quarantined record: where it came from and why (never its content: PHI)."""

    id: str
    snapshot_id: str
    source_file: str
    line: int
    resource_type: str | None
    reason: str


def lake_counts(ctx: ServiceContext) -> LakeCounts:
    """Row count per lake table and the lake's data hash."""
    with ctx.operation("data.tables", Permission.DATA_READ, target="lake") as op:
        lake = Lake(ctx.workspace.lake_dir)
        result = LakeCounts(tables=lake.counts(), data_hash=lake.data_hash())
        op.details["data_hash"] = result.data_hash
    return result


def quarantine_id(source_file: str, line: int, reason: str) -> str:
    """A quarantine row's id (what a retry selects by): stable while the row is."""
    return hashlib.sha256(f"{source_file}\n{line}\n{reason}".encode()).hexdigest()[:12]


def quarantine_rows(
    ctx: ServiceContext, limit: int = 50, after: QuarantineKey | None = None
) -> list[QuarantineRow]:
    """Quarantine rows by file, line and reason with their id, without the excerpt (it may hold
    PHI); ``after``: the :func:`quarantine_key` of the last row of the previous page."""
    with ctx.operation("data.quarantine", Permission.DATA_READ, target="lake") as op:
        lake = Lake(ctx.workspace.lake_dir)
        cols = ", ".join(QUARANTINE_COLUMNS)
        where, params = "", list[object]()
        if after is not None:
            # a key, not an offset: a page neither repeats nor skips rows quarantined meanwhile
            where = "WHERE (source_file, line, reason) > (?, ?, ?)"
            params = [after.source_file, after.line, after.reason]
        table = lake.query(
            f"SELECT {cols} FROM quarantine {where} "
            f"ORDER BY source_file, line, reason LIMIT {int(limit)}",
            params or None,
        )
        rows = [
            QuarantineRow(id=quarantine_id(r["source_file"], r["line"], r["reason"]), **r)
            for r in table.to_pylist()
        ]
        op.details["rows"] = len(rows)
    return rows


class QuarantineKey(NamedTuple):
    """Where a quarantine row sorts: the key a page of rows continues after."""

    source_file: str
    line: int
    reason: str


def quarantine_key(row: QuarantineRow) -> QuarantineKey:
    return QuarantineKey(row.source_file, row.line, row.reason)
