"""The last step of one ingest: a staged batch into one atomic lake snapshot.

:func:`commit` takes a :class:`~caretwin.ingest.stage.Staged` (so it cannot run before the
stage): it counts what was added, gives the lineage rows their ``seq`` after the added records,
builds every changed table, appends the raw rows partitioned by type and month, updates the
quarantine (new refusals in; old ones of what was read again and accepted out) and swaps the
catalog through :class:`~caretwin.lake.writer.LakeWriter`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from caretwin.ingest.batch import IngestBatch, Laps
from caretwin.ingest.stage import Staged, files_sql, set_hash_of
from caretwin.lake import SCHEMAS, TABLE_KEYS, Lake, LakeWriter
from caretwin.lake.catalog import ChangeCounts, SnapshotEntry
from caretwin.lake.schema import PARTITIONS
from caretwin.lake.sql import sql_str

__all__ = ["Committed", "commit"]

_ADDED_SQL = (
    "SELECT c.content_hash FROM cand c JOIN cls USING (ord) WHERE cls.status = 'added' "
    "UNION ALL SELECT content_hash FROM __lineage"
)


@dataclass(frozen=True)
class Committed:
    """What one commit did (``no_change``: it added no resource, perhaps quarantine rows)."""

    snapshot_id: str
    no_change: bool
    quarantine_added: int = 0
    quarantine_removed: int = 0


def commit(
    staged: Staged, lake: Lake, writer: LakeWriter, source: str, laps: Laps, started: float
) -> Committed:
    """Write the staged batch as one snapshot (nothing when it changes nothing)."""
    con, batch = staged.con, staged.batch
    _count(con, batch)
    base = staged.base_seq
    _register_lineage(con, batch, base)
    snapshot_id = set_hash_of(con, _ADDED_SQL)
    n_added = _scalar(con, f"SELECT count(*) FROM ({_ADDED_SQL})")
    py_rows = batch.table_rows()
    for table, rows in _record_rows(con, batch).items():
        py_rows.setdefault(table, {}).update(rows)
    new_locations = bool(
        _scalar(con, "SELECT count(*) FROM added WHERE win AND resource_type = 'Location'")
    ) or bool(py_rows.get("locations"))
    q_added, q_removed = _stage_quarantine(lake, writer, batch, snapshot_id)
    if not n_added and not q_added + q_removed:
        return Committed(snapshot_id, True)
    laps.lap("hashes")
    for table in TABLE_KEYS:
        view = batch.views.views.get(table)
        resource = view.resource if view else None
        staged.tables.build(table, resource, py_rows.get(table, {}), new_locations)
    laps.lap("tables")
    _write_raw(con, batch, writer, snapshot_id)
    laps.lap("raw")
    all_raw = lake.table_files("resources")
    if all_raw:
        data_hash = set_hash_of(
            con,
            f"SELECT content_hash FROM read_parquet({files_sql(all_raw)}, "
            f"hive_partitioning = false) UNION ALL {_ADDED_SQL}",
        )
    else:  # a fresh lake holds exactly what this ingest added: the snapshot id's hashes
        data_hash = snapshot_id
    entry = None
    if n_added:
        entry = SnapshotEntry(
            snapshot_id=snapshot_id,
            created_at=datetime.now(UTC).isoformat(),
            added=n_added,
            quarantined=len(batch.quarantined),
            no_change=False,
            data_hash=data_hash,
            source=source,
            counts={
                t: ChangeCounts(added=c.new, updated=c.updated, deleted=c.deleted)
                for t, c in sorted(batch.counts.items())
                if c.added
            },
            seconds=round(time.perf_counter() - started, 3),
        )
    views = {**lake.catalog().views, **batch.views.hashes}
    next_seq = base + _scalar(con, "SELECT count(*) FROM added") + len(batch.lineage)
    laps.lap("hashes")
    writer.commit(data_hash, entry, next_seq=next_seq, views=views)
    laps.lap("commit")
    return Committed(snapshot_id, not n_added, q_added, q_removed)


def _count(con: duckdb.DuckDBPyConnection, batch: IngestBatch) -> None:
    rows = con.execute(
        """SELECT cls.resource_type, cls.status, count(*),
                  count(*) FILTER (WHERE a.deleted),
                  count(*) FILTER (WHERE NOT a.deleted AND NOT a.is_new)
           FROM cls LEFT JOIN added a USING (ord)
           WHERE cls.status <> 'conflict' GROUP BY ALL"""
    ).fetchall()
    for rtype, status, n, deleted, updated in rows:
        counts = batch.counts[rtype]
        if status == "added":
            counts.added += n
            counts.deleted += deleted
            counts.updated += updated
        else:
            counts.unchanged += n


def _record_rows(
    con: duckdb.DuckDBPyConnection, batch: IngestBatch
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The rows that go with a candidate record (work orders), of the records now current."""
    ords = batch.record_ords()
    if not ords:
        return {}
    con.register("__record_ords", pa.table({"ord": pa.array(ords, pa.int64())}))
    wins = con.execute(
        "SELECT ord FROM added WHERE win AND ord IN (SELECT ord FROM __record_ords) ORDER BY ord"
    ).fetchall()
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for (ord_,) in wins:
        table, row = batch.record_row(ord_)
        out.setdefault(table, {})[row[TABLE_KEYS[table]]] = [row]
    return out


def _register_lineage(con: duckdb.DuckDBPyConnection, batch: IngestBatch, base: int) -> None:
    """Register ``__lineage``: the feeders' lineage rows, numbered after the added records."""
    first = base + _scalar(con, "SELECT count(*) FROM added")
    rows = [
        {**r, "version": r["content_hash"], "version_id": None, "last_updated": None,
         "seq": first + i, "deleted": False, "full_url": None, "snapshot_id": ""}
        for i, r in enumerate(batch.lineage)
    ]  # fmt: skip
    con.register("__lineage", pa.Table.from_pylist(rows, schema=SCHEMAS["resources"]))


def _stage_quarantine(
    lake: Lake, writer: LakeWriter, batch: IngestBatch, snapshot_id: str
) -> tuple[int, int]:
    """Add this run's new quarantine rows; drop the old ones of what it read again and
    accepted (a corrected file, a retry after a view was fixed). Returns (added, removed)."""
    old = lake.read_table("quarantine")
    keys = ("source_file", "line", "reason", "excerpt")
    now = {tuple(row[k] for k in keys) for row in batch.quarantined}
    kept: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    removed = 0
    for row in old.to_pylist() if old.num_rows else []:
        key = tuple(row[k] for k in keys)
        reread = (
            row["source_file"] in batch.reread_files
            or (row["source_file"], row["line"]) in batch.reread_lines
        )
        if reread and key not in now:
            removed += 1
            continue
        kept.append(row)
        seen.add(key)
    rows = []
    for row in batch.quarantined:
        key = tuple(row[k] for k in keys)
        if key not in seen:
            seen.add(key)
            rows.append({"snapshot_id": snapshot_id, **row})
    schema = SCHEMAS["quarantine"]
    if removed:
        writer.replace("quarantine", pa.Table.from_pylist(kept + rows, schema=schema))
    elif rows:
        writer.append("quarantine", pa.Table.from_pylist(rows, schema=schema))
    return len(rows), removed


def _write_raw(
    con: duckdb.DuckDBPyConnection, batch: IngestBatch, writer: LakeWriter, snapshot_id: str
) -> None:
    """Append this ingest's raw rows, partitioned by type and month (``last_updated``).

    One COPY per resource type, reading only the spool files that hold the type: DuckDB's
    ``PARTITION_BY`` write costs over twice the CPU of plain writes (7 against 3 CPU
    seconds for a million resources), so it is used only for a type whose rows span
    several months. Row groups are kept small (16 k rows): raw rows are large (the JSON).
    Rows are written in ``seq`` order so that the same input gives the same bytes: the
    connection's ``preserve_insertion_order = false`` would let them come out in any order.
    """
    cols = SCHEMAS["resources"].names
    sid = sql_str(snapshot_id)
    pick = {
        "snapshot_id": f"{sid} AS snapshot_id",
        "seq": "a.seq AS seq",
        "version_id": "a.version_id AS version_id",
        "last_updated": "a.last_updated AS last_updated",
    }
    select = ", ".join(pick.get(c, f"c.{c}") for c in cols)
    lineage_select = ", ".join(f"{sid} AS snapshot_id" if c == "snapshot_id" else c for c in cols)
    (type_col, type_expr), (month_col, month_expr) = PARTITIONS["resources"]
    assert type_expr == "resource_type", "raw partitions: type, then month"
    month_sql = month_expr.format(ingest_month=datetime.now(UTC).strftime("%Y-%m"))
    months: dict[str, list[str]] = defaultdict(list)
    for rtype, month in con.execute(
        f"""SELECT DISTINCT resource_type, {month_sql} FROM (
                SELECT resource_type, last_updated FROM added
                UNION ALL SELECT resource_type, last_updated FROM __lineage) ORDER BY ALL"""
    ).fetchall():
        months[rtype].append(month)
    folder = writer.stage_dir("resources")
    opts = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 16384"
    for rtype, type_months in months.items():
        files = [path for path, types in batch.spooled.types if types.get(rtype)]
        rt = sql_str(rtype)
        rows = f"SELECT {lineage_select} FROM __lineage WHERE resource_type = {rt}"
        if files:
            rows = (
                f"SELECT {select} FROM read_parquet({files_sql(files)}) c "
                # the join's build side only this type's rows, not every added row
                f"JOIN (SELECT * FROM added WHERE resource_type = {rt}) a USING (ord) "
                f"WHERE c.resource_type = {rt} UNION ALL {rows}"
            )
        target = folder / f"{type_col}={rtype}"
        if len(type_months) == 1:
            target = target / f"{month_col}={type_months[0]}"
            target.mkdir(parents=True)
            name = target / f"part-{writer.tag}-0.parquet"
            con.execute(f"COPY ({rows} ORDER BY seq) TO {sql_str(str(name))} ({opts})")
        else:
            # DuckDB's partitioned write loses the ORDER BY when several threads write; one
            # thread keeps it (cheaper than one sorted COPY per month: 1.1 against 1.8 s here)
            threads = _scalar(con, "SELECT current_setting('threads')")
            con.execute("SET threads = 1")
            try:
                con.execute(
                    f"""COPY (SELECT *, {month_sql} AS "{month_col}" FROM ({rows}) ORDER BY seq)
                        TO {sql_str(str(target))} ({opts}, PARTITION_BY ("{month_col}"),
                        FILENAME_PATTERN 'part-{writer.tag}-{{i}}')"""
                )
            finally:
                con.execute(f"SET threads = {threads}")
    writer.add_dir("resources", folder)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])
