"""CMMS corrective work orders from CSV (``workorders.csv`` of docs/data-contract.md).

Each row becomes one raw record (resource type ``WorkOrder``, id ``work_order_id``, the row as a
JSON object) so work orders share the lake's lineage, dedupe and data hash with FHIR resources,
and one row of the ``work_orders`` table. Empty cells mean "not yet" (an open work order) and
become nulls; times must be ISO 8601 and in order (reported <= repair start <= repair end).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from caretwin.fhir.refs import resolve
from caretwin.ingest.fields import instant
from caretwin.ingest.records import WORK_ORDER, InvalidRecord, Record
from caretwin.lake.schema import WORK_ORDER_COLUMNS

COLUMNS = WORK_ORDER_COLUMNS
REQUIRED_COLUMNS = ("work_order_id", "failure_reported")


def read_csv(path: Path, source: str) -> Iterator[Record]:
    """One record per data row; a file without the work-order header is one quarantined record."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            yield Record(
                source,
                1,
                kind=WORK_ORDER,
                error=f"not a work-order CSV: header lacks {', '.join(missing)}",
                excerpt=",".join(header)[:400],
            )
            return
        reader.fieldnames = header
        for row in reader:  # line_num: the (last) physical line of the row just read
            data = {k: (v or "").strip() for k, v in row.items() if k is not None and k in COLUMNS}
            yield Record(source, reader.line_num, kind=WORK_ORDER, data=data, excerpt=_excerpt(row))


def _excerpt(row: dict[str | Any, Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow([v for k, v in row.items() if k is not None])
    return buf.getvalue().strip()[:400]


def work_order_id(data: dict[str, Any]) -> str:
    wid = data.get("work_order_id")
    if not wid:
        raise InvalidRecord("work_order_id is required")
    return str(wid)


def normalize_work_order(data: dict[str, Any]) -> dict[str, Any]:
    """The ``work_orders`` row of one CSV row (raises :class:`InvalidRecord`)."""

    def cell(name: str) -> str | None:
        return data.get(name) or None

    reported = instant(cell("failure_reported"), "failure_reported")
    if reported is None:
        raise InvalidRecord("failure_reported is required")
    start = instant(cell("repair_start"), "repair_start")
    end = instant(cell("repair_end"), "repair_end")
    if start is not None and start < reported:
        raise InvalidRecord("repair_start is before failure_reported")
    if end is not None and end < (start or reported):
        raise InvalidRecord(
            "repair_end is before " + ("repair_start" if start else "failure_reported")
        )
    device = cell("device_id")
    return {
        "work_order_id": work_order_id(data),
        "asset_id": cell("asset_id"),
        "device_id": resolve({"reference": device}, {}) if device else None,
        "type": cell("type"),
        "failure_reported": reported,
        "repair_start": start,
        "repair_end": end,
    }
