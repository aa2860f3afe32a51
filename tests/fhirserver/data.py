"""Valid synthetic resources for connector tests, and helpers to read the lake after a pull."""

from __future__ import annotations

from typing import Any

from caretwin.lake import Lake
from caretwin.lake.versions import latest_sql
from caretwin.workspace import Workspace


def stamp(minute: int) -> str:
    """A lastUpdated instant ``minute`` minutes after 2026-01-01T00:00Z."""
    return f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z"


def patient(i: int, minute: int = 0) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p{i}",
        "gender": "female" if i % 2 else "male",
        "birthDate": "1970-01-01",
        "meta": {"lastUpdated": stamp(minute)},
    }


def encounter(i: int, minute: int = 0) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"e{i}",
        "status": "finished",
        "class": {"code": "IMP"},
        "subject": {"reference": f"Patient/p{i}"},
        "period": {"start": "2026-01-01T08:00:00Z", "end": "2026-01-02T08:00:00Z"},
        "meta": {"lastUpdated": stamp(minute)},
    }


def lake_ids(ws: Workspace, rtype: str) -> set[str]:
    table = Lake(ws.lake_dir).query(
        f"SELECT DISTINCT resource_id FROM resources WHERE resource_type = '{rtype}'"
    )
    return set(table["resource_id"].to_pylist())


def current_ids(ws: Workspace, rtype: str) -> set[str]:
    """Ids of ``rtype`` whose current version is not a tombstone (what views and tables see)."""
    sql = latest_sql("resources", f"resource_type = '{rtype}'")
    table = Lake(ws.lake_dir).query(f"SELECT resource_id FROM ({sql}) WHERE NOT deleted")
    return set(table["resource_id"].to_pylist())


def quarantine(ws: Workspace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        Lake(ws.lake_dir)
        .query("SELECT source_file, line, resource_type, reason FROM quarantine")
        .to_pylist()
    )
    return rows
