"""Running the data-quality checks over the lake: one DuckDB connection, one query per check.

:func:`assess` profiles every normalized table (rows, nulls per column) and runs every check of
:mod:`caretwin.quality.checks`. With a snapshot id it also narrows each finding to the records that
snapshot delivered (through the raw layer: every ``resources`` row carries its ``snapshot_id``)
and counts the snapshot's quarantined records refused for the same defect. Everything is SQL over
the lake's views, so a year of data takes seconds, and the result is deterministic (sorted example
ids, no timestamps), which is what lets a recorded quality run be reproduced exactly.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

import duckdb
import pyarrow as pa

from caretwin.errors import DataError
from caretwin.lake import TABLE_KEYS, Lake
from caretwin.quality.checks import CHECKS, VALUE_SET, Check, value_set_table
from caretwin.quality.result import ColumnProfile, Finding, QualityReport, TableProfile, ValueCount
from caretwin.quality.valuesets import load_value_set

__all__ = ["EXAMPLES", "assess"]

#: Example ids kept per finding.
EXAMPLES = 5
#: Distinct offending code values kept per code finding.
VALUES = 10
#: A value shown as an offending code must look like one; anything else is withheld (maybe PHI).
_CODE_LIKE = re.compile(r"^[A-Za-z0-9._:/+-]{1,64}$")
WITHHELD = "(withheld: not code-like)"
_SNAP = "__snapshot_records"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Any]:
    return con.execute(sql, params or []).fetchall()


def _profile(con: duckdb.DuckDBPyConnection, table: str) -> TableProfile:
    desc = con.execute(f'SELECT * FROM "{table}" LIMIT 0').description or []
    cols = [d[0] for d in desc]
    counts = ", ".join(f'count("{c}")' for c in cols)
    row = _rows(con, f'SELECT count(*){", " if cols else ""}{counts} FROM "{table}"')[0]
    n = int(row[0])
    profiles = [
        ColumnProfile(column=c, nulls=n - int(k), null_rate=(n - int(k)) / n if n else 0.0)
        for c, k in zip(cols, row[1:], strict=True)
    ]
    return TableProfile(table=table, rows=n, columns=profiles)


def _values(con: duckdb.DuckDBPyConnection, check: Check) -> list[ValueCount]:
    rows = _rows(
        con,
        f"SELECT value, count(*) AS n FROM ({check.sql}) GROUP BY value ORDER BY n DESC, value",
    )
    merged: dict[str, int] = {}
    for value, n in rows:
        key = value if _CODE_LIKE.match(value) else WITHHELD
        merged[key] = merged.get(key, 0) + int(n)
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return [ValueCount(value=v, count=n) for v, n in ordered[:VALUES]]


def _quarantined(
    con: duckdb.DuckDBPyConnection, check: Check, snapshot_id: str | None
) -> tuple[int, list[str]]:
    if check.quarantine_like is None:
        return 0, []
    where = "reason LIKE ?" + (" AND snapshot_id = ?" if snapshot_id else "")
    params: list[Any] = [check.quarantine_like] + ([snapshot_id] if snapshot_id else [])
    rows = _rows(
        con, f"SELECT source_file, line FROM quarantine WHERE {where} ORDER BY ALL", params
    )
    examples = [f"{PurePath(f or '').name}:{line}" for f, line in rows[:EXAMPLES]]
    return len(rows), examples


def _finding(con: duckdb.DuckDBPyConnection, check: Check, snapshot_id: str | None) -> Finding:
    in_snap = (
        f"count(*) FILTER (WHERE id IN (SELECT resource_id FROM {_SNAP} WHERE resource_type = ?))"
        if snapshot_id
        else "NULL"
    )
    sql = (
        f"SELECT count(*), list_slice(list_sort(list_distinct(list(id))), 1, {EXAMPLES}), "
        f"{in_snap} FROM ({check.sql})"
    )
    n, examples, in_snapshot = _rows(con, sql, [check.resource_type] if snapshot_id else [])[0]
    quarantined, q_examples = _quarantined(con, check, snapshot_id)
    return Finding(
        check=check.id,
        kind=check.kind,
        table=check.table,
        column=check.column,
        title=check.title,
        count=int(n),
        examples=[str(e) for e in examples or []],
        in_snapshot=None if in_snapshot is None else int(in_snapshot),
        quarantined=quarantined,
        quarantine_examples=q_examples,
        value_set=check.value_set,
        values=_values(con, check) if check.kind == VALUE_SET and n else [],
    )


def assess(
    lake: Lake, snapshot_id: str | None = None, snapshot_data_hash: str | None = None
) -> QualityReport:
    """The quality report of the lake, narrowed to ``snapshot_id``'s records when one is given.

    ``snapshot_data_hash`` is the lake's data hash right after that snapshot; the report says
    whether the lake is still in that state (``current``).
    """
    lake_hash = lake.data_hash()
    con = lake.connect()
    try:
        value_sets = {}
        for vs_id in sorted({c.value_set for c in CHECKS if c.value_set}):
            vs = load_value_set(vs_id)
            value_sets[vs_id] = vs.system
            con.register(value_set_table(vs_id), pa.table({"code": sorted(vs.codes)}))
        if snapshot_id:
            con.execute(
                f"CREATE TEMP TABLE {_SNAP} AS SELECT DISTINCT resource_type, resource_id "
                "FROM resources WHERE snapshot_id = ?",
                [snapshot_id],
            )
        tables = [_profile(con, t) for t in TABLE_KEYS]
        findings = [_finding(con, c, snapshot_id) for c in CHECKS]
    except duckdb.Error as exc:
        raise DataError(f"data-quality checks failed on the lake: {exc}") from exc
    finally:
        con.close()
    return QualityReport(
        snapshot_id=snapshot_id,
        snapshot_data_hash=snapshot_data_hash,
        lake_data_hash=lake_hash,
        current=snapshot_data_hash is None or snapshot_data_hash == lake_hash,
        tables=tables,
        findings=findings,
        value_sets=value_sets,
    )
