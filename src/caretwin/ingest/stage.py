"""Deduplication, versions and deletes of one ingest, in DuckDB over the staged candidates.

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
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import duckdb

from caretwin.lake.lake import parquet_select
from caretwin.lake.sql import sql_str
from caretwin.lake.versions import LATEST_FIRST

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

    :func:`caretwin.ingest.staged.stage_batch` classifies a fed batch's candidates on it and runs
    the views, and returns the :class:`~caretwin.ingest.staged.Staged` state that the
    after-stage feeders and the commit need (so neither can run before it).
    """

    def __init__(self, staging: Path, memory: str) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET memory_limit = {sql_str(memory)}")
        self.con.execute(f"SET temp_directory = {sql_str(str(staging / 'duckdb.tmp'))}")
        self.con.execute("SET preserve_insertion_order = false")

    def close(self) -> None:
        self.con.close()
