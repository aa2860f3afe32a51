"""Snapshots as audited services: list, show, diff, and each snapshot's data-quality report.

A snapshot is known from two places: the lake catalog (the commit order, written by every ingest
path) and the metadata database (who ingested it, from where, outcome counts; written by the
ingest service). Listing merges them, so data loaded outside the service (connectors, HL7 feeds,
scripts) still appears, flagged ``recorded: false``. Ids may be given as a unique prefix.

A quality report is a run (kind ``quality``): its manifest names the lake's data hash and the
snapshot, its outputs are the report, so ``caretwin reproduce`` re-checks the same data and must
get the identical report. Everything returned holds ids, counts, hashes, file names and reasons,
never record content.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import Field

from caretwin.access import Permission
from caretwin.errors import DataError, LakeEmpty
from caretwin.ingest import IngestReport
from caretwin.lake import Lake
from caretwin.quality import QualityReport, assess
from caretwin.quality.lineage import TypeChange, diff, snapshot_changes
from caretwin.runs import RunRecorder
from caretwin.runs.manifest import Manifest
from caretwin.services.context import ServiceContext
from caretwin.services.reproduce import register_reproducer
from caretwin.services.results import ServiceResult
from caretwin.store import list_snapshots

__all__ = [
    "FileCount",
    "QualityRun",
    "QuarantineRow",
    "SnapshotChanges",
    "SnapshotDetail",
    "SnapshotSummary",
    "TableRows",
    "TypeCounts",
    "diff_snapshots",
    "quality_after_ingest",
    "show_snapshot",
    "snapshot_list",
    "snapshot_quality",
]

MIN_PREFIX = 6
RUN_KIND = "quality"


class SnapshotSummary(ServiceResult):
    snapshot_id: str
    created_at: str
    actor: str | None = None
    source: str | None = None
    data_hash: str
    added: int = 0
    quarantined: int = 0
    counts: dict[str, Any] = Field(default_factory=dict)  # type -> added/unchanged/quarantined
    recorded: bool = True  # in the metadata database (ingested through the service)
    in_lake: bool = True  # in the lake catalog (lineage and quality are available)


class QuarantineRow(ServiceResult):
    source_file: str
    line: int | None
    resource_type: str | None
    reason: str


class FileCount(ServiceResult):
    source_file: str
    records: int = 0  # raw versions this snapshot added from the file
    quarantined: int = 0


class TypeCounts(ServiceResult):
    """Per resource type: lake changes (new, updated, deleted, from the raw layer) and the
    ingest's outcome counts (``None`` where the snapshot was not recorded by the service)."""

    resource_type: str
    new: int
    updated: int
    deleted: int
    added: int | None
    unchanged: int | None
    quarantined: int | None


class SnapshotDetail(ServiceResult):
    snapshot: SnapshotSummary
    changes: list[TypeChange] = Field(default_factory=list)  # from the raw layer
    types: list[TypeCounts] = Field(default_factory=list)  # changes and counts side by side
    files: list[FileCount] = Field(default_factory=list)
    quarantine: list[QuarantineRow] = Field(default_factory=list)
    quarantine_total: int = 0


class QualityRun(ServiceResult):
    run_id: str
    report: QualityReport
    json_path: Path
    html_path: Path | None = None


class TableRows(ServiceResult):
    table: str
    before: int
    after: int
    change: int


class SnapshotChanges(ServiceResult):
    """What changed from the lake after ``from_snapshot`` to the lake after ``to_snapshot``;
    ``swapped``: the two were given newest first and were put in order."""

    from_snapshot: str
    to_snapshot: str
    swapped: bool
    snapshots_between: int
    types: list[TypeChange]
    tables: list[TableRows]


def _type_counts(changes: list[TypeChange], counts: dict[str, Any]) -> list[TypeCounts]:
    by_type = {c.resource_type: c for c in changes}
    rows = []
    for rtype in sorted(set(by_type) | set(counts)):
        c, o = by_type.get(rtype), counts.get(rtype, {})
        rows.append(
            TypeCounts(
                resource_type=rtype,
                new=c.added if c else 0,
                updated=c.updated if c else 0,
                deleted=c.deleted if c else 0,
                added=o.get("added"),
                unchanged=o.get("unchanged"),
                quarantined=o.get("quarantined"),
            )
        )
    return rows


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _all(ctx: ServiceContext) -> tuple[list[SnapshotSummary], list[str]]:
    """Every snapshot, newest first, and the lake's commit order (oldest first)."""
    catalog = Lake(ctx.workspace.lake_dir).catalog()
    order = [s.snapshot_id for s in catalog.snapshots]
    merged: dict[str, SnapshotSummary] = {}
    for s in catalog.snapshots:
        merged[s.snapshot_id] = SnapshotSummary(
            snapshot_id=s.snapshot_id,
            created_at=s.created_at,
            source=getattr(s, "source", "") or None,  # lake catalogs record it from format 2
            data_hash=s.data_hash,
            added=s.added,
            quarantined=s.quarantined,
            recorded=False,
        )
    for info in list_snapshots(ctx.workspace):
        counts = info.counts
        row = merged.get(info.snapshot_id)
        merged[info.snapshot_id] = SnapshotSummary(
            snapshot_id=info.snapshot_id,
            created_at=row.created_at if row else _utc(info.created_at).isoformat(),
            actor=info.actor,
            source=info.source,
            data_hash=info.data_hash,
            added=sum(int(c.get("added", 0)) for c in counts.values()),
            quarantined=sum(int(c.get("quarantined", 0)) for c in counts.values()),
            counts=counts,
            recorded=True,
            in_lake=row is not None,
        )
    rank = {sid: i for i, sid in enumerate(order)}
    items = sorted(
        merged.values(),
        key=lambda s: (rank.get(s.snapshot_id, -1), s.created_at, s.snapshot_id),
        reverse=True,
    )
    return items, order


def _resolve(items: list[SnapshotSummary], ref: str) -> SnapshotSummary:
    ref = ref.strip().lower()
    exact = [s for s in items if s.snapshot_id == ref]
    if exact:
        return exact[0]
    if len(ref) < MIN_PREFIX:
        raise DataError(
            f"snapshot id {ref!r} is too short: give at least {MIN_PREFIX} characters",
            details={"snapshot": ref},
        )
    found = [s for s in items if s.snapshot_id.startswith(ref)]
    if len(found) != 1:
        what = "no snapshot" if not found else f"{len(found)} snapshots"
        raise DataError(f"{what} match {ref!r}", details={"snapshot": ref})
    return found[0]


def _in_lake(snap: SnapshotSummary) -> None:
    if not snap.in_lake:
        raise DataError(
            f"snapshot {snap.snapshot_id} is recorded but not in the lake catalog "
            "(the lake was replaced); its lineage cannot be read",
            details={"snapshot_id": snap.snapshot_id},
        )


def snapshot_list(ctx: ServiceContext, limit: int | None = None) -> list[SnapshotSummary]:
    """Snapshots, newest first: id, time, actor, source, outcome counts, data hash."""
    with ctx.operation("snapshots.list", Permission.DATA_READ, target="lake") as op:
        items, _ = _all(ctx)
        items = items[:limit] if limit is not None else items
        op.details["snapshots"] = len(items)
    return items


def show_snapshot(ctx: ServiceContext, ref: str, quarantine_limit: int = 100) -> SnapshotDetail:
    """One snapshot: counts per type and outcome, its files, and its quarantine rows."""
    with ctx.operation("snapshots.show", Permission.DATA_READ, target=ref) as op:
        items, order = _all(ctx)
        snap = _resolve(items, ref)
        op.details["snapshot_id"] = snap.snapshot_id
        _in_lake(snap)
        lake = Lake(ctx.workspace.lake_dir)
        sid = [snap.snapshot_id]
        raw = lake.query(
            "SELECT source_file, count(*) AS n FROM resources WHERE snapshot_id = ? GROUP BY ALL",
            sid,
        ).to_pylist()
        quarantine = lake.query(
            "SELECT source_file, line, resource_type, reason FROM quarantine "
            "WHERE snapshot_id = ? ORDER BY source_file, line, reason",
            sid,
        ).to_pylist()
        records: dict[str, int] = {r["source_file"]: r["n"] for r in raw}
        quarantined: dict[str, int] = {}
        for q in quarantine:
            quarantined[q["source_file"]] = quarantined.get(q["source_file"], 0) + 1
        changes = snapshot_changes(lake, order, snap.snapshot_id)
        detail = SnapshotDetail(
            snapshot=snap,
            changes=changes,
            types=_type_counts(changes, snap.counts),
            files=[
                FileCount(
                    source_file=f, records=records.get(f, 0), quarantined=quarantined.get(f, 0)
                )
                for f in sorted(records.keys() | quarantined.keys())
            ],
            quarantine=[QuarantineRow(**q) for q in quarantine[:quarantine_limit]],
            quarantine_total=len(quarantine),
        )
        op.details["files"] = len(detail.files)
        op.details["quarantine_rows"] = detail.quarantine_total
    return detail


def diff_snapshots(ctx: ServiceContext, a: str, b: str) -> SnapshotChanges:
    """What changed between two snapshots: resources per type, rows per table."""
    with ctx.operation("snapshots.diff", Permission.DATA_READ, target=f"{a}..{b}") as op:
        items, order = _all(ctx)
        sa, sb = _resolve(items, a), _resolve(items, b)
        _in_lake(sa)
        _in_lake(sb)
        result = diff(Lake(ctx.workspace.lake_dir), order, sa.snapshot_id, sb.snapshot_id)
        op.details.update(
            {
                "from": result.from_snapshot,
                "to": result.to_snapshot,
                "changed": sum(t.added + t.updated + t.deleted for t in result.types),
            }
        )
    return SnapshotChanges(
        from_snapshot=result.from_snapshot,
        to_snapshot=result.to_snapshot,
        swapped=result.swapped,
        snapshots_between=result.snapshots_between,
        types=result.types,
        tables=[
            TableRows(table=t.table, before=t.before, after=t.after, change=t.change)
            for t in result.tables
        ],
    )


def _latest(items: list[SnapshotSummary]) -> SnapshotSummary:
    in_lake = [s for s in items if s.in_lake]
    if not in_lake:
        raise LakeEmpty("the lake has no snapshots yet; ingest data first")
    return in_lake[0]


def _record(ctx: ServiceContext, snap: SnapshotSummary, html_out: Path | None) -> QualityRun:
    lake = Lake(ctx.workspace.lake_dir)
    with RunRecorder.start(
        ctx,
        RUN_KIND,
        data_snapshot_hash=lake.data_hash(),
        parameters={"snapshot_id": snap.snapshot_id, "snapshot_data_hash": snap.data_hash},
    ) as rec:
        with rec.timer("checks"):
            report = assess(lake, snap.snapshot_id, snap.data_hash)
        json_path = rec.run_dir / "quality.json"
        json_path.write_bytes(
            orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
        )
        html_path = None
        if html_out is not None:
            from caretwin.reports.quality import write_quality_report

            with rec.timer("report"):
                html_path = write_quality_report(report, html_out, run_id=rec.run_id)
        rec.finish(report.model_dump(mode="json"), report_path=html_path)
    return QualityRun(
        run_id=rec.run_id,
        report=report,
        json_path=json_path,
        html_path=html_path,
    )


def snapshot_quality(
    ctx: ServiceContext, ref: str | None = None, html_out: Path | None = None
) -> QualityRun:
    """The data-quality report of snapshot ``ref`` (default: the latest), recorded as a run."""
    with ctx.operation("snapshots.quality", Permission.DATA_READ, target=ref or "latest") as op:
        items, _ = _all(ctx)
        snap = _resolve(items, ref) if ref else _latest(items)
        _in_lake(snap)
        op.details["snapshot_id"] = snap.snapshot_id
        run = _record(ctx, snap, html_out)
        op.details.update(
            {"run_id": run.run_id, "defects": run.report.defects, "current": run.report.current}
        )
    return run


def quality_after_ingest(ctx: ServiceContext, report: IngestReport) -> QualityRun | None:
    """The ingest service's hook: the new snapshot's quality report (``None`` if no change)."""
    if report.no_change:
        return None
    return snapshot_quality(ctx, report.snapshot_id)


def _reproduce(ctx: ServiceContext, manifest: Manifest) -> dict[str, Any]:
    lake = Lake(ctx.workspace.lake_dir)
    if manifest.data_snapshot_hash != lake.data_hash():
        raise DataError(
            "the lake has changed since this quality run (data hash "
            f"{manifest.data_snapshot_hash} then, {lake.data_hash()} now)",
            details={"run_id": manifest.run_id},
        )
    params = manifest.parameters
    report = assess(lake, params["snapshot_id"], params.get("snapshot_data_hash"))
    out: dict[str, Any] = report.model_dump(mode="json")
    return out


register_reproducer(RUN_KIND, _reproduce, permission=Permission.DATA_READ)
