"""Pulls on record, across sources: what each brought in, its status and its snapshot.

Running a pull is :func:`caretwin.services.sources.pull`; this module only reads the record.
Counts, ids, statuses and watermarks only: never record content.
"""

from __future__ import annotations

from typing import Any

from caretwin.access import Permission
from caretwin.connectors import records
from caretwin.services.context import ServiceContext
from caretwin.services.sources import PullRecord

__all__ = ["PullRecord", "list_pulls", "show_pull"]


def _record(row: dict[str, Any]) -> PullRecord:
    fetched = sum((row["counts"].get("fetched") or {}).values())
    return PullRecord.model_validate({**row, "fetched": fetched})


def list_pulls(
    ctx: ServiceContext, source: str | None = None, limit: int = 50, after: str | None = None
) -> list[PullRecord]:
    """Pulls, newest first (of ``source`` only if given); ``after``: the last pull id of the
    previous page."""
    with ctx.operation("pulls.list", Permission.DATA_READ, target=source or "*") as op:
        found = [_record(r) for r in records.pulls_page(ctx.workspace, source, limit, after)]
        op.details["count"] = len(found)
    return found


def show_pull(ctx: ServiceContext, pull_id: str) -> PullRecord:
    with ctx.operation("pulls.show", Permission.DATA_READ, target=pull_id) as op:
        found = _record(records.get_pull(ctx.workspace, pull_id))
        op.details.update({"source": found.source, "status": found.status})
    return found
