"""The stage of one ingest: its DuckDB connection, and deduplication, versions and deletes over
the candidates its batch spooled.

Parsing leaves every accepted record in a staging Parquet file (``cand``: the raw columns plus
``ord``, the record's position in this ingest). Here, without holding any key set in Python:

1. each candidate is classified against the lake's raw layer (an anti-join on
   ``(resource_type, resource_id, version)`` reading only the raw partitions of the types at hand)
   and against earlier candidates: ``added``; ``unchanged`` (same key, same content); or
   ``conflict`` (same key, other content: quarantined, since two different texts cannot both be
   version ``v``);
2. tombstones without a version of their own get one after the versions before them (the next
   ``versionId``, the latest ``lastUpdated``), as the server that deleted the resource would
   have recorded it, so the delete wins over what it deletes;
3. among every version of each touched resource (old and added), the current one is picked by
   :data:`caretwin.lake.versions.LATEST_FIRST`; ``added.win`` marks added rows that are now
   current: the normalized tables are recomputed for exactly those resources.

:meth:`Stage.load` is the only way to a :class:`Staged`: the after-stage feeders (HL7 v2 events
read this ingest's staged encounters) and the commit take one, so the order of the steps is a
matter of types. A current resource a view fails on is quarantined, and the versions and views
are worked out again without it (an older version may become current).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow.parquet as pq

from caretwin.ingest.parse import SPOOL
from caretwin.lake import SCHEMAS, TABLE_KEYS, Lake, LakeWriter
from caretwin.lake.lake import parquet_select
from caretwin.lake.sql import sql_str
from caretwin.lake.versions import LATEST_FIRST

if TYPE_CHECKING:  # the tables (and the batch, through them) use this module's SQL helpers
    from caretwin.ingest.batch import IngestBatch, Laps
    from caretwin.ingest.tables import TableBuilder

_KEY = "resource_type, resource_id"


def files_sql(files: Sequence[Path | str]) -> str:
    return "[" + ", ".join(sql_str(str(f)) for f in files) + "]"


def define_old(con: duckdb.DuckDBPyConnection, old_files: Sequence[Path]) -> None:
    """``old``: the lake's raw rows of the types this ingest touches (typed, possibly empty)."""
    if old_files:
        con.execute(f"CREATE TEMP VIEW old AS {parquet_select('resources', old_files)}")
    else:
        con.execute(
            "CREATE TEMP VIEW old AS SELECT * FROM (SELECT ''::VARCHAR AS resource_type, "
            "''::VARCHAR AS resource_id, ''::VARCHAR AS content_hash, ''::VARCHAR AS version, "
            "''::VARCHAR AS version_id, NULL::TIMESTAMPTZ AS last_updated, 0::BIGINT AS seq, "
            "false AS deleted, ''::VARCHAR AS full_url) WHERE false"
        )


def classify(
    con: duckdb.DuckDBPyConnection, cand: Sequence[str], base_seq: int, without: str = ""
) -> None:
    """Create ``cand`` (view), ``cls`` (ord, resource_type, status) and ``added`` (tables).

    ``added.seq`` numbers the added rows from ``base_seq`` in input order (no gaps). Run again
    with ``without`` (a table of ``ord``: candidates quarantined since) it replaces them.
    """
    skip = f" WHERE ord NOT IN (SELECT ord FROM {without})" if without else ""
    con.execute(
        f"CREATE OR REPLACE VIEW cand AS SELECT * FROM read_parquet({files_sql(cand)}){skip}"
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE cls AS
        WITH c AS (
            SELECT ord, resource_type, resource_id, version, content_hash,
                row_number() OVER k AS n, first(content_hash) OVER k AS first_hash
            FROM cand WINDOW k AS (PARTITION BY {_KEY}, version ORDER BY ord)),
        o AS (SELECT {_KEY}, coalesce(version, content_hash) AS version,
                     any_value(content_hash) AS content_hash
              FROM old GROUP BY ALL)
        SELECT c.ord, c.resource_type, CASE
            WHEN c.n > 1 THEN CASE WHEN c.content_hash = c.first_hash
                                   THEN 'unchanged' ELSE 'conflict' END
            WHEN o.content_hash IS NULL THEN 'added'
            WHEN o.content_hash = c.content_hash THEN 'unchanged'
            ELSE 'conflict' END AS status
        FROM c LEFT JOIN o USING ({_KEY}, version)"""
    )
    # every version of the touched resources: old ones, then this ingest's added ones
    con.execute(
        f"""CREATE OR REPLACE TABLE added AS
        WITH a AS (
            SELECT c.ord, c.resource_type, c.resource_id, c.version_id, c.last_updated,
                   {base_seq} - 1 + row_number() OVER (ORDER BY c.ord) AS seq, c.deleted
            FROM cand c JOIN cls USING (ord) WHERE cls.status = 'added'),
        touched AS (SELECT DISTINCT {_KEY} FROM a),
        v AS (
            SELECT NULL::BIGINT AS ord, o.resource_type, o.resource_id, o.version_id,
                   o.last_updated, o.seq, o.deleted
            FROM old o SEMI JOIN touched t USING ({_KEY})
            UNION ALL SELECT * FROM a),
        filled AS (
            SELECT *,
                CASE WHEN deleted AND version_id IS NULL
                     THEN CAST(max(TRY_CAST(version_id AS BIGINT)) OVER prior + 1 AS VARCHAR)
                     ELSE version_id END AS fill_vid,
                CASE WHEN deleted AND last_updated IS NULL THEN max(last_updated) OVER prior
                     ELSE last_updated END AS fill_lu,
                count(*) OVER prior AS before
            FROM v WINDOW prior AS (PARTITION BY {_KEY} ORDER BY seq
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY {_KEY} ORDER BY {
            LATEST_FIRST.replace("version_id", "fill_vid").replace("last_updated", "fill_lu")
        }) AS r
            FROM filled)
        SELECT ord, resource_type, resource_id, seq, deleted, fill_vid AS version_id,
               fill_lu AS last_updated, r = 1 AS win, before = 0 AS is_new
        FROM ranked WHERE ord IS NOT NULL"""
    )


def set_hash_of(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """:func:`caretwin.lake.set_hash` of the ``content_hash`` column of ``sql``, streamed."""
    digest = hashlib.sha256()
    first = True
    result = con.execute(f"SELECT DISTINCT content_hash FROM ({sql}) ORDER BY 1")
    while batch := result.fetchmany(100_000):
        digest.update((("" if first else "\n") + "\n".join(r[0] for r in batch)).encode())
        first = False
    return digest.hexdigest()


class Stage:
    """The DuckDB connection of one ingest: opened once by the pipeline, closed in its finally.

    :meth:`load` classifies a fed batch's candidates on it and runs the views, and returns the
    :class:`Staged` state that the after-stage feeders and the commit need.
    """

    def __init__(self, staging: Path, memory: str) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET memory_limit = {sql_str(memory)}")
        self.con.execute(f"SET temp_directory = {sql_str(str(staging / 'duckdb.tmp'))}")
        self.con.execute("SET preserve_insertion_order = false")

    def close(self) -> None:
        self.con.close()

    def load(
        self, batch: IngestBatch, lake: Lake, writer: LakeWriter, laps: Laps, spool_dir: Path
    ) -> Staged:
        """Classify the batch's candidates, then run the views the parse workers did not."""
        from caretwin.ingest.tables import TableBuilder

        laps.lap("parse")
        con, spooled = self.con, batch.spooled
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
