"""Quarantine rows for what a source reported as failed (Bulk Data ``error`` files).

An export's error files hold OperationOutcome resources: the server's own account of records it
could not export. They are not data to load, but they are losses the data team must see next to
the records ingest refused, so each issue becomes a quarantine row naming the staged file and
line, in one all-or-nothing lake commit (rows already present are not added twice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from caretwin.ingest.records import EXCERPT_CHARS
from caretwin.ingest.sources import read_file
from caretwin.lake import SCHEMAS, Lake, LakeWriter

__all__ = ["outcome_rows", "quarantine_outcomes"]


def _reason(issue: dict[str, Any]) -> str:
    severity = issue.get("severity") or "error"
    code = issue.get("code") or "exception"
    text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
    where = issue.get("expression") or issue.get("location") or []
    suffix = f" at {', '.join(map(str, where))}" if where else ""
    return f"source reported {severity} ({code}): {text}{suffix}".strip()[:1000]


def outcome_rows(path: Path) -> list[dict[str, Any]]:
    """One row per issue of every OperationOutcome in the NDJSON file ``path``."""
    rows: list[dict[str, Any]] = []
    for rec in read_file(path):
        excerpt = rec.excerpt[:EXCERPT_CHARS]
        base = {"source_file": rec.source_file, "line": rec.line, "excerpt": excerpt}
        data = rec.data
        if rec.error is not None or data is None:
            rows.append({**base, "resource_type": None, "reason": rec.error or "unreadable"})
            continue
        issues = data.get("issue") if data.get("resourceType") == "OperationOutcome" else None
        if not isinstance(issues, list) or not issues:
            reason = "error file line is not an OperationOutcome with issues"
            rows.append({**base, "resource_type": None, "reason": reason})
            continue
        for issue in issues:
            if isinstance(issue, dict):
                rows.append({**base, "resource_type": None, "reason": _reason(issue)})
    return rows


def quarantine_outcomes(lake_dir: Path, files: list[Path], snapshot_id: str) -> int:
    """Add the issues of ``files`` to the lake's quarantine table; returns rows added."""
    rows = [row for path in files for row in outcome_rows(path)]
    if not rows:
        return 0
    lake = Lake(lake_dir)
    with LakeWriter(lake_dir) as writer:
        old = lake.read_table("quarantine", ["source_file", "line", "reason", "excerpt"])
        seen = set(zip(*(old[c].to_pylist() for c in old.column_names), strict=True))
        new = []
        for row in rows:
            key = (row["source_file"], row["line"], row["reason"], row["excerpt"])
            if key not in seen:
                seen.add(key)
                new.append({"snapshot_id": snapshot_id, **row})
        if new:
            writer.append("quarantine", pa.Table.from_pylist(new, schema=SCHEMAS["quarantine"]))
            writer.commit(lake.data_hash(), None)
    return len(new)
