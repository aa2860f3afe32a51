"""Snapshot lineage from the raw layer: what a snapshot delivered, what changed between two.

Every ``resources`` row carries the ``snapshot_id`` of the ingest that added it, and a resource's
versions are its raw rows. Given the snapshots in commit order, the state of the lake after
snapshot X is, per ``(resource_type, resource_id)``, the latest raw version at or before X; a diff
compares two such states. Normalized row counts are reconstructed the same way (one row per live
resource of the table's type; ``movements`` one per ``Encounter.location`` entry), so they need no
per-snapshot copy of the tables. A raw ``deleted`` boolean column, where the raw layer has one,
marks a version that deletes its resource; without it nothing is ever deleted.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel, Field

from caretwin.errors import DataError
from caretwin.lake import Lake

__all__ = [
    "TYPE_TABLES",
    "SnapshotDiff",
    "TableChange",
    "TypeChange",
    "diff",
    "snapshot_changes",
    "table_rows_at",
]

#: Raw resource type -> the normalized table holding one row per live resource of that type.
TYPE_TABLES: dict[str, str] = {
    "Patient": "patients",
    "Encounter": "encounters",
    "Location": "locations",
    "Device": "devices",
    "Procedure": "procedures",
    "ServiceRequest": "service_requests",
    "WorkOrder": "work_orders",
}
_ORDER = "__snapshot_order"


class TypeChange(BaseModel):
    resource_type: str
    added: int = 0
    updated: int = 0
    deleted: int = 0


class TableChange(BaseModel):
    table: str
    before: int
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


class SnapshotDiff(BaseModel):
    """What changed from the lake after ``from_snapshot`` to the lake after ``to_snapshot``."""

    from_snapshot: str
    to_snapshot: str
    swapped: bool = False  # the two were given newest first and were put in order
    snapshots_between: int = 0  # snapshots in (from, to]: the ingests this diff spans
    types: list[TypeChange] = Field(default_factory=list)
    tables: list[TableChange] = Field(default_factory=list)


#: Without version columns in the raw layer, the later snapshot (then the later line) wins.
_COMMIT_ORDER = "o.ord DESC, r.source_file DESC, r.line DESC"


def _latest_first(cols: list[str]) -> str:
    """The lake's own "which version is current" rule where the raw layer has version columns."""
    if {"version_id", "last_updated", "seq"} <= set(cols):
        from caretwin.lake.versions import LATEST_FIRST

        # Commit order breaks ties (e.g. raw rows written before ``seq`` was filled in).
        return f"{LATEST_FIRST}, {_COMMIT_ORDER}"
    return _COMMIT_ORDER


def _connect(lake: Lake, order: list[str]) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A lake connection with the snapshot order registered, and the raw-layer SQL fragments."""
    con = lake.connect()
    con.register(_ORDER, pa.table({"snapshot_id": order, "ord": list(range(len(order)))}))
    cols = [d[0] for d in con.execute("SELECT * FROM resources LIMIT 0").description or []]
    deleted = "coalesce(r.deleted, false)" if "deleted" in cols else "false"
    # One string carries both fragments, split in _state: keeps every signature unchanged.
    return con, f"{deleted}|{_latest_first(cols)}"


def _state(raw: str, upto: int) -> str:
    """SQL of the live-or-deleted latest version of every resource at snapshot index ``upto``."""
    deleted, latest_first = raw.split("|", 1)
    return f"""
        SELECT resource_type, resource_id, content_hash, is_deleted, json FROM (
            SELECT r.resource_type, r.resource_id, r.content_hash, r.json,
                   {deleted} AS is_deleted,
                   row_number() OVER (PARTITION BY r.resource_type, r.resource_id
                                      ORDER BY {latest_first}) AS rn
            FROM resources r JOIN {_ORDER} o USING (snapshot_id)
            WHERE o.ord <= {int(upto)}
        ) WHERE rn = 1"""


def _index(order: list[str], snapshot_id: str) -> int:
    try:
        return order.index(snapshot_id)
    except ValueError:
        raise DataError(
            f"snapshot {snapshot_id} is not among the lake's snapshots",
            details={"snapshot_id": snapshot_id},
        ) from None


def _type_changes(con: duckdb.DuckDBPyConnection, deleted: str, a: int, b: int) -> list[TypeChange]:
    sql = f"""
        WITH sa AS ({_state(deleted, a)}), sb AS ({_state(deleted, b)})
        SELECT sb.resource_type,
               count(*) FILTER (WHERE NOT sb.is_deleted AND (sa.resource_id IS NULL
                                                             OR sa.is_deleted)) AS added,
               count(*) FILTER (WHERE NOT sb.is_deleted AND NOT sa.is_deleted
                                AND sa.content_hash <> sb.content_hash) AS updated,
               count(*) FILTER (WHERE sb.is_deleted AND NOT sa.is_deleted) AS deleted
        FROM sb LEFT JOIN sa USING (resource_type, resource_id)
        GROUP BY sb.resource_type ORDER BY sb.resource_type"""
    rows = con.execute(sql).fetchall()
    return [
        TypeChange(resource_type=t, added=int(ad), updated=int(up), deleted=int(de))
        for t, ad, up, de in rows
        if ad or up or de
    ]


def _rows_at(con: duckdb.DuckDBPyConnection, deleted: str, upto: int) -> dict[str, int]:
    live = f"SELECT * FROM ({_state(deleted, upto)}) WHERE NOT is_deleted"
    out: dict[str, int] = {}
    out["resources"] = int(
        con.execute(
            f"SELECT count(*) FROM resources JOIN {_ORDER} o USING (snapshot_id) "
            f"WHERE o.ord <= {int(upto)}"
        ).fetchall()[0][0]
    )
    per_type = dict(
        con.execute(f"SELECT resource_type, count(*) FROM ({live}) GROUP BY ALL").fetchall()
    )
    for rtype, table in TYPE_TABLES.items():
        out[table] = int(per_type.get(rtype, 0))
    out["movements"] = int(
        con.execute(
            "SELECT coalesce(sum(coalesce(json_array_length(json, '$.location'), 0)), 0) "
            f"FROM ({live}) WHERE resource_type = 'Encounter'"
        ).fetchall()[0][0]
    )
    out["quarantine"] = int(
        con.execute(
            f"SELECT count(*) FROM quarantine JOIN {_ORDER} o USING (snapshot_id) "
            f"WHERE o.ord <= {int(upto)}"
        ).fetchall()[0][0]
    )
    return out


def _guard(fn: Any) -> Any:
    try:
        return fn()
    except duckdb.Error as exc:
        raise DataError(f"snapshot lineage query failed on the lake: {exc}") from exc


def table_rows_at(lake: Lake, order: list[str], snapshot_id: str) -> dict[str, int]:
    """Row count per table as of ``snapshot_id``, reconstructed from the raw layer."""
    idx = _index(order, snapshot_id)
    con, deleted = _connect(lake, order)
    try:
        result: dict[str, int] = _guard(lambda: _rows_at(con, deleted, idx))
        return result
    finally:
        con.close()


def snapshot_changes(lake: Lake, order: list[str], snapshot_id: str) -> list[TypeChange]:
    """Resources ``snapshot_id`` added, updated or deleted per type (against the one before)."""
    idx = _index(order, snapshot_id)
    con, deleted = _connect(lake, order)
    try:
        result: list[TypeChange] = _guard(lambda: _type_changes(con, deleted, idx - 1, idx))
        return result
    finally:
        con.close()


def diff(lake: Lake, order: list[str], a: str, b: str) -> SnapshotDiff:
    """What changed between the lake after snapshot ``a`` and after ``b`` (ordered oldest first)."""
    ia, ib = _index(order, a), _index(order, b)
    swapped = ia > ib
    if swapped:
        ia, ib, a, b = ib, ia, b, a
    con, deleted = _connect(lake, order)
    try:
        types: list[TypeChange] = _guard(lambda: _type_changes(con, deleted, ia, ib))
        before: dict[str, int] = _guard(lambda: _rows_at(con, deleted, ia))
        after: dict[str, int] = _guard(lambda: _rows_at(con, deleted, ib))
    finally:
        con.close()
    tables = [TableChange(table=t, before=before[t], after=after[t]) for t in sorted(after)]
    return SnapshotDiff(
        from_snapshot=a,
        to_snapshot=b,
        swapped=swapped,
        snapshots_between=ib - ia,
        types=types,
        tables=tables,
    )
