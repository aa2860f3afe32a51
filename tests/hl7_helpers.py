"""Shared helpers for the HL7 v2 tests: a lake's ADT-relevant tables as plain JSON-able rows."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from caretwin.lake import Lake

DATA = Path(__file__).parent / "data" / "hl7"
TABLES = ("patients", "encounters", "movements", "locations", "quarantine")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def lake_rows(lake_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The tables an ADT ingest writes, with timestamps as ISO text and file paths as names."""
    lake = Lake(lake_dir)
    out: dict[str, list[dict[str, Any]]] = {}
    for table in TABLES:
        rows = []
        for row in lake.read_table(table).to_pylist():
            row = {k: _plain(v) for k, v in row.items() if k not in ("snapshot_id", "excerpt")}
            if "source_file" in row:
                row["source_file"] = Path(row["source_file"]).name
            rows.append(row)
        key = (
            ("source_file", "line", "reason")
            if table == "quarantine"
            else tuple(rows[0])
            if rows
            else ()
        )
        out[table] = sorted(rows, key=lambda r: tuple(str(r[k]) for k in key))
    return out
