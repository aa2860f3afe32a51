"""Snapshots (list, show, diff), their data quality, the lake's tables and its quarantine.

Every page reads patient-level data (``data.read``) and its service audits the read as such.
Checking a snapshot's quality records a run, so it is a form (POST, CSRF-checked), not a link a
prefetch could follow; so is retrying quarantined records, which needs ``data.ingest``.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from caretwin.access import Permission
from caretwin.errors import ConfigError
from caretwin.services.ingest_retry import RetryReport, retry_quarantine
from caretwin.services.ingestion import (
    QuarantineKey,
    lake_counts,
    quarantine_key,
    quarantine_rows,
)
from caretwin.services.snapshots import (
    diff_snapshots,
    show_snapshot,
    snapshot_list,
    snapshot_quality,
)
from caretwin.web.deps import DataPage, IngestPage, Page
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
Ref = Annotated[str, Query(min_length=1, max_length=100)]


@router.get("/snapshots")
def snapshots(page: DataPage) -> Response:
    found = snapshot_list(page.ctx)
    return render(page, "snapshots.html", title="Snapshots", snapshots=found)


# before /snapshots/{ref}, which would take "diff" for a snapshot id
@router.get("/snapshots/diff")
def snapshot_diff(page: DataPage, a: Ref, b: Ref) -> Response:
    changes = diff_snapshots(page.ctx, a, b)
    return render(page, "snapshot_diff.html", title="Snapshot diff", changes=changes)


@router.get("/snapshots/{ref}")
def snapshot(page: DataPage, ref: str) -> Response:
    found = show_snapshot(page.ctx, ref)
    return render(page, "snapshot.html", title=f"Snapshot {ref[:12]}", found=found)


@router.post("/snapshots/{ref}/quality")
def quality(page: DataPage, ref: str) -> Response:
    """Check the snapshot's data quality now (recorded as a ``quality`` run)."""
    run = snapshot_quality(page.ctx, ref)
    return render(page, "quality.html", title=f"Quality of {ref[:12]}", run=run, ref=ref)


@router.get("/lake")
def lake(page: DataPage) -> Response:
    return render(page, "lake.html", title="Lake", counts=lake_counts(page.ctx))


def _after(after: str | None) -> QuarantineKey | None:
    if not after:
        return None
    try:
        source_file, line, reason = orjson.loads(after)
        return QuarantineKey(str(source_file), int(line), str(reason))
    except (orjson.JSONDecodeError, TypeError, ValueError):
        raise ConfigError("invalid page link: start from the first page") from None


def _quarantine_page(
    page: Page, after: str | None, status: int = 200, retried: RetryReport | None = None
) -> Response:
    found = quarantine_rows(page.ctx, limit=PAGE_SIZE + 1, after=_after(after))
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    nxt = orjson.dumps(list(quarantine_key(found[-1]))).decode() if more and found else None
    return render(
        page, "quarantine.html", status, title="Quarantine", rows=found, after=after,
        next_after=nxt, can_retry=page.actor.can(Permission.INGEST), retried=retried,
    )  # fmt: skip


@router.get("/lake/quarantine")
def quarantine(page: DataPage, after: str | None = Query(None, max_length=2000)) -> Response:
    return _quarantine_page(page, after)


@router.post("/lake/quarantine/retry")
def retry(
    page: IngestPage,
    ids: Annotated[list[str], Form(max_length=PAGE_SIZE)] = [],  # noqa: B006  # copied per request
    all_rows: Annotated[bool, Form(alias="all")] = False,
) -> Response:
    """Run the ticked quarantined records (or all of them) through ingestion again."""
    report = retry_quarantine(page.ctx, ids, all_rows=all_rows)
    return _quarantine_page(page, None, retried=report)
