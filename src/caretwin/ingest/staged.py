"""A fed batch, staged in DuckDB: candidates classified, views run, refusals quarantined.

:func:`stage_batch` is the only way to a :class:`Staged`: the after-stage feeders (HL7 v2
events read this ingest's staged encounters) and the commit take one, so the order of the
steps is a matter of types. A current resource a view fails on is quarantined, and the versions
and views are worked out again without it (an older version may become current).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from caretwin.ingest.batch import IngestBatch, Laps
from caretwin.ingest.parse import SPOOL
from caretwin.ingest.stage import Stage, classify, define_old, files_sql
from caretwin.ingest.tables import TableBuilder
from caretwin.lake import SCHEMAS, TABLE_KEYS, Lake, LakeWriter

__all__ = ["Staged", "stage_batch"]


@dataclass(frozen=True)
class Staged:
    """The state of one ingest once staged (see the module doc)."""

    con: duckdb.DuckDBPyConnection
    batch: IngestBatch
    tables: TableBuilder
    #: the lake's ``next_seq`` when the stage numbered the added rows
    base_seq: int

    def rows(self, table: str) -> dict[str, list[dict[str, Any]]]:
        """The rows the views produced for ``table`` in this ingest, by key (in key order)."""
        key = TABLE_KEYS[table]
        order = f'"{key}"' + (', "seq"' if table == "movements" else "")
        got: dict[str, list[dict[str, Any]]] = {}
        for r in self.con.sql(f"SELECT * FROM v_{table} ORDER BY {order}").fetchall():
            row = dict(zip(SCHEMAS[table].names, r, strict=True))
            got.setdefault(row[key], []).append(row)
        return got


def stage_batch(
    stage: Stage, batch: IngestBatch, lake: Lake, writer: LakeWriter, laps: Laps, spool_dir: Path
) -> Staged:
    """Classify the batch's candidates, then run the views the parse workers did not."""
    laps.lap("parse")
    con, spooled = stage.con, batch.spooled
    if not spooled.files:
        empty = str(spool_dir / "empty.parquet")
        pq.write_table(SPOOL.empty_table(), empty)
        spooled.files.append(empty)
    types = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT resource_type FROM read_parquet({files_sql(spooled.files)})"
        ).fetchall()
    ]
    define_old(con, lake.partition_files("resources", "type", types))
    next_seq = lake.catalog().next_seq
    classify(con, spooled.files, next_seq)
    laps.lap("classify")
    native = {t: spooled.view_files.get(t, []) for t, _ in batch.views.native}
    failed: dict[int, str] = {}
    while True:
        tables = TableBuilder(con, lake, writer, spooled.types, native, spooled.view_errors)
        for table, secs in tables.run_views(batch.views.views).items():
            laps.phases[f"view {table}"] = secs
        laps.lap("views")
        if not tables.failed:
            break
        failed.update(tables.failed)
        con.execute("CREATE OR REPLACE TEMP TABLE __view_failed (ord BIGINT)")
        con.executemany("INSERT INTO __view_failed VALUES (?)", [[o] for o in failed])
        classify(con, spooled.files, next_seq, without="__view_failed")
        laps.lap("classify")
    _conflicts(con, batch)
    _view_failures(con, batch, failed)
    return Staged(con, batch, tables, next_seq)


def _view_failures(
    con: duckdb.DuckDBPyConnection, batch: IngestBatch, failed: dict[int, str]
) -> None:
    if not failed:
        return
    rows = con.execute(
        f"""SELECT ord, source_file, line, resource_type, left(json, 400)
            FROM read_parquet({files_sql(batch.spooled.files)})
            WHERE ord IN (SELECT ord FROM __view_failed) ORDER BY ord"""
    ).fetchall()
    for ord_, source, line, rtype, text in rows:
        batch.quarantine(source, line, rtype, failed[ord_], text)


def _conflicts(con: duckdb.DuckDBPyConnection, batch: IngestBatch) -> None:
    rows = con.execute(
        """SELECT c.source_file, c.line, c.resource_type, c.resource_id, c.version,
                  left(c.json, 400) FROM cand c JOIN cls USING (ord)
           WHERE cls.status = 'conflict' ORDER BY c.ord"""
    ).fetchall()
    for source, line, rtype, rid, version, text in rows:
        reason = f"{rtype}/{rid} version {version[:64]} is already known with other content"
        batch.quarantine(source, line, rtype, reason, text)
