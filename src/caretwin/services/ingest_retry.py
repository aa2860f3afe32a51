"""Retrying quarantined records after a fix, as an audited service.

A record waits in the quarantine until what refused it is fixed: the data (the file corrected
in place), a site view (``<workspace>/views/``), or CareTwin itself. :func:`retry_quarantine`
reads the selected records again from their source files (for NDJSON the quarantined lines
only; other files whole) and runs them through the whole pipeline with the current views. What
lands leaves the quarantine; what is refused again stays, with its new reason. Re-ingesting a
corrected file with ``caretwin ingest`` has the same effect on that file's rows, since an ingest
reads every line of its files again.

The quarantine keeps a 400-character excerpt, not the record, so the source file must still be
readable where it was ingested from; rows whose file is gone are reported and stay.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pydantic import Field

from caretwin.access import Permission
from caretwin.errors import DataError
from caretwin.ingest.pipeline import ingest_lines
from caretwin.ingest.report import IngestReport
from caretwin.lake import Lake
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import after_ingest, quarantine_id, record_ingest
from caretwin.services.results import ServiceResult

__all__ = ["RetryReport", "retry_quarantine"]


class RetryReport(ServiceResult):
    """What a retry did: rows selected, rows that left the quarantine, files no longer there."""

    selected: int
    cleared: int
    still_quarantined: int
    missing_files: list[str] = Field(default_factory=list)
    unknown_ids: list[str] = Field(default_factory=list)
    ingest: IngestReport | None = None


def retry_quarantine(
    ctx: ServiceContext, ids: list[str] | None = None, all_rows: bool = False
) -> RetryReport:
    """Run the quarantined records ``ids`` (or every one, ``all_rows``) through ingestion again."""
    if not all_rows and not ids:
        raise DataError("say which quarantined records to retry: their ids, or all of them")
    target = "all" if all_rows else ",".join(ids or [])[:500]
    with ctx.operation("data.retry", Permission.INGEST, target=target) as op:
        lake = Lake(ctx.workspace.lake_dir)
        table = lake.read_table("quarantine", ["source_file", "line", "reason"])
        wanted = set(ids or [])
        by_file: dict[str, set[int]] = defaultdict(set)
        found: set[str] = set()
        selected = 0
        for row in table.to_pylist() if table.num_rows else []:
            rid = quarantine_id(row["source_file"], row["line"], row["reason"])
            if not all_rows and rid not in wanted:
                continue
            found.add(rid)
            selected += 1
            by_file[row["source_file"]].add(int(row["line"]))
        # One stat per source file, not per quarantined row.
        lines: dict[Path, set[int]] = defaultdict(set)
        missing: set[str] = set()
        for name, numbers in by_file.items():
            path = Path(name)
            if path.is_file():
                lines[path] |= numbers
            else:
                missing.add(name)
        report = None
        if lines:
            report = ingest_lines(ctx.workspace.lake_dir, dict(lines))
            record_ingest(ctx, op.details, report, f"retry of {selected} quarantined records")
        cleared = report.quarantine_rows_removed if report is not None else 0
        result = RetryReport(
            selected=selected,
            cleared=cleared,
            still_quarantined=max(0, selected - cleared),
            missing_files=sorted(missing),
            unknown_ids=sorted(wanted - found),
            ingest=report,
        )
        op.details.update({"selected": selected, "cleared": cleared, "missing_files": len(missing)})
    if report is not None:
        after_ingest(ctx, report)
    return result
