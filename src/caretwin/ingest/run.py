"""The state of one ingest over a lake opened for writing (see :mod:`caretwin.ingest.pipeline`).

Feeders add to it: parsed FHIR chunks (:meth:`IngestRun.add_parsed`), work-order CSV files, and
HL7 v2 messages through :func:`caretwin.hl7v2.feed.feed_messages`, which uses the attributes of
its ``IngestRun`` protocol (``known``: the lake's HL7 message keys; ``rows``: normalized rows by
table and key, holding this ingest's FHIR rows of the tables HL7 touches so messages apply on
top of them; ``raw``: a sink for lineage rows). :meth:`IngestRun.commit` does the rest in DuckDB.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from caretwin.errors import DataError
from caretwin.hl7v2.feed import UNKNOWN as HL7_TYPE
from caretwin.ingest.parse import ORD_SHIFT, SPOOL, Chunk, Parsed, spool
from caretwin.ingest.records import WORK_ORDER_TYPE, InvalidRecord
from caretwin.ingest.report import TypeCounts
from caretwin.ingest.shapes import view_reads
from caretwin.ingest.stage import classify, define_old, files_sql, set_hash_of
from caretwin.ingest.tables import TableBuilder, native_views
from caretwin.ingest.workorders import normalize_work_order, read_csv, work_order_id
from caretwin.lake import SCHEMAS, TABLE_KEYS, Lake, LakeWriter, set_hash
from caretwin.lake.catalog import ChangeCounts, SnapshotEntry
from caretwin.lake.lake import parquet_select
from caretwin.lake.schema import PARTITIONS
from caretwin.lake.sql import sql_str
from caretwin.views import View, all_views

UNKNOWN_TYPE = "(unknown)"
#: Set to ``0`` to run every view compiled in DuckDB at commit instead of natively in the
#: parse workers (the same tables; for comparison and diagnosis).
NATIVE_VIEWS_ENV = "CARETWIN_INGEST_NATIVE_VIEWS"
#: DuckDB's memory for one ingest; beyond it, joins and sorts spill to the staging folder.
DUCKDB_MEMORY = os.environ.get("CARETWIN_INGEST_DUCKDB_MEMORY", "512MB")


class _RawSink:
    """HL7 lineage rows (already deduplicated by the feed), appended to raw at commit."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


class IngestRun:
    """One ingest's state; feed it, then :meth:`commit`."""

    def __init__(self, lake: Lake, writer: LakeWriter, views_root: Path, source: str) -> None:
        self.lake, self.writer, self.source = lake, writer, source
        self.views: dict[str, View] = {
            name: e.view for name, e in all_views(views_root).items() if name in TABLE_KEYS
        }
        self.view_hashes = {
            name: e.sha256 for name, e in all_views(views_root).items() if name in self.views
        }
        #: views the parse workers run natively (the rest run compiled in DuckDB at commit)
        native = os.environ.get(NATIVE_VIEWS_ENV, "1") != "0"
        self.native_views = native_views(self.views) if native else ()
        #: what every view reads, type-checked in the parse workers (whatever engine runs it)
        self.reads = view_reads(self.views.values())
        self._view_files: dict[str, list[str]] = defaultdict(list)
        self._view_errors: set[str] = set()
        self.records = 0
        self.counts: dict[str, TypeCounts] = defaultdict(TypeCounts)
        self.quarantine: list[dict[str, Any]] = []
        #: what this ingest read in full (files) or again (lines of a file): their old
        #: quarantine rows that this run does not refuse again leave the quarantine
        self.reread_files: set[str] = set()
        self.reread_lines: set[tuple[str, int]] = set()
        self.quarantine_removed = 0
        self.seen: set[tuple[str, str, str]] = set()
        self.added_hashes: list[str] = []  # HL7 lineage only (FHIR is counted in DuckDB)
        self.raw = _RawSink()
        self._rows: dict[str, dict[str, list[dict[str, Any]]]] | None = None
        self._known: set[tuple[str, str, str]] | None = None
        self._spool_dir = writer.staging / "cand"
        self._spool_dir.mkdir()
        self._spooled: list[str] = []
        self._spool_types: list[tuple[str, dict[str, int]]] = []
        self._chunks = 0
        self._hl7_table = SCHEMAS["resources"].empty_table()
        self._work_orders: dict[int, dict[str, Any]] = {}
        self.con: duckdb.DuckDBPyConnection | None = None
        self.snapshot_id = set_hash(())
        self.no_change = True
        self.quarantine_added = 0
        self.phases: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, phase: str) -> None:
        """Charge the time since the last lap to ``phase`` (reported, for benchmarks)."""
        now = time.perf_counter()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - self._clock, 3)
        self._clock = now

    # -- feeding ---------------------------------------------------------------------------

    def assign(self, chunk: Chunk) -> Chunk:
        """Give ``chunk`` its index and spool file (call in input order, before parsing)."""
        if self.con is not None:
            raise DataError("FHIR records must be fed before HL7 messages")
        chunk.index = self._chunks
        chunk.out = str(self._spool_dir / f"{self._chunks:08d}.parquet")
        chunk.views = self.native_views
        chunk.reads = self.reads
        self._chunks += 1
        return chunk

    def add_parsed(self, parsed: Parsed) -> None:
        """Take the outcome of a parsed chunk (in input order)."""
        self.records += parsed.records
        for row in parsed.quarantine:
            self._quarantine(row)
        if parsed.path is not None:
            self._spooled.append(parsed.path)
            self._spool_types.append((parsed.path, parsed.types))
        for table, path in parsed.view_files.items():
            self._view_files[table].append(path)
        self._view_errors |= parsed.view_errors

    def add_work_orders(self, path: Path) -> None:
        """A CMMS CSV: each valid row one raw record (type ``WorkOrder``) and one table row."""
        from caretwin.ingest.parse import _Builder  # the same raw columns as FHIR records

        out = _Builder(path.as_posix())
        for rec in read_csv(path, path.as_posix()):
            out.records += 1
            if rec.error is not None or rec.data is None:
                out.refuse(rec.line, None, rec.error or "unreadable", rec.excerpt)
                out.quarantine[-1]["resource_type"] = WORK_ORDER_TYPE
                continue
            try:
                wid = work_order_id(rec.data)
                row = normalize_work_order(rec.data)
            except InvalidRecord as exc:
                out.refuse(rec.line, None, exc.reason, rec.excerpt)
                out.quarantine[-1]["resource_type"] = WORK_ORDER_TYPE
                continue
            canon = orjson.dumps(rec.data, option=orjson.OPT_SORT_KEYS)
            import hashlib

            digest = hashlib.sha256(canon).hexdigest()
            self._work_orders[(self._chunks << ORD_SHIFT) + len(out.rows)] = row
            out.add(WORK_ORDER_TYPE, wid, digest, rec.line, canon, digest, None, None, False)
        chunk = self.assign(Chunk(path.as_posix(), 1, b""))
        table = out.table()
        if table.num_rows and chunk.out is not None:
            spool(table, chunk.index, chunk.out)
        spooled = chunk.out if table.num_rows else None
        types = {WORK_ORDER_TYPE: table.num_rows}
        self.add_parsed(Parsed(None, out.quarantine, out.records, table.num_rows, spooled, types))

    def _quarantine(self, row: dict[str, Any]) -> None:
        self.counts[row["resource_type"] or UNKNOWN_TYPE].quarantined += 1
        self.quarantine.append(row)

    # -- the HL7 feed's view of the run ------------------------------------------------------

    @property
    def known(self) -> set[tuple[str, str, str]]:
        """Raw keys of HL7 v2 messages already in the lake (the feed dedupes on these)."""
        if self._known is None:
            types = sorted(
                {f.split("/", 1)[0][len("type=") :] for f in self._raw_files() if "HL7v2" in f}
            )
            files = self.lake.partition_files("resources", "type", types)
            self._known = set()
            if files:
                keys = self.lake.query(
                    f"SELECT resource_type, resource_id, content_hash FROM "
                    f"({parquet_select('resources', files)})"
                )
                self._known = set(
                    zip(*(keys[c].to_pylist() for c in keys.column_names), strict=True)
                )
        return self._known

    @property
    def rows(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Rows by table and key: this ingest's FHIR rows of HL7's tables, then HL7's own."""
        if self._rows is None:
            self._stage()
            assert self.con is not None
            self._rows = {}
            for table in ("encounters", "movements", "patients"):
                key = TABLE_KEYS[table]
                got: dict[str, list[dict[str, Any]]] = {}
                order = f'"{key}"' + (', "seq"' if table == "movements" else "")
                for r in self.con.sql(f"SELECT * FROM v_{table} ORDER BY {order}").fetchall():
                    row = dict(zip(SCHEMAS[table].names, r, strict=True))
                    got.setdefault(row[key], []).append(row)
                if got:
                    self._rows[table] = got
        return self._rows

    def _raw_files(self) -> list[str]:
        return self.lake.catalog().entry("resources").files

    # -- DuckDB stage ------------------------------------------------------------------------

    def _stage(self) -> None:
        """Classify the candidates, then run the views the parse workers did not."""
        if self.con is not None:
            return
        self.lap("parse")
        if not self._spooled:
            empty = str(self._spool_dir / "empty.parquet")
            pq.write_table(SPOOL.empty_table(), empty)
            self._spooled.append(empty)
        tmp = self.writer.staging / "duckdb.tmp"
        con = duckdb.connect(":memory:")
        self.con = con
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = {sql_str(DUCKDB_MEMORY)}")
        con.execute(f"SET temp_directory = {sql_str(str(tmp))}")
        con.execute("SET preserve_insertion_order = false")
        types = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT resource_type FROM read_parquet({files_sql(self._spooled)})"
            ).fetchall()
        ]
        define_old(con, self.lake.partition_files("resources", "type", types))
        next_seq = self.lake.catalog().next_seq
        classify(con, self._spooled, next_seq)
        self.lap("classify")
        native = {t: self._view_files.get(t, []) for t, _ in self.native_views}
        failed: dict[int, str] = {}
        while True:
            self.tables = TableBuilder(
                con, self.lake, self.writer, self._spool_types, native, self._view_errors
            )
            for table, secs in self.tables.run_views(self.views).items():
                self.phases[f"view {table}"] = secs
            self.lap("views")
            if not self.tables.failed:
                break
            # A current resource a view fails on is quarantined, and the versions and views
            # are worked out again without it (an older version may become current).
            failed.update(self.tables.failed)
            con.execute("CREATE OR REPLACE TEMP TABLE __view_failed (ord BIGINT)")
            con.executemany("INSERT INTO __view_failed VALUES (?)", [[o] for o in failed])
            classify(con, self._spooled, next_seq, without="__view_failed")
            self.lap("classify")
        self._conflicts()
        self._view_failures(failed)

    def _view_failures(self, failed: dict[int, str]) -> None:
        if not failed:
            return
        assert self.con is not None
        rows = self.con.execute(
            f"""SELECT ord, source_file, line, resource_type, left(json, 400)
                FROM read_parquet({files_sql(self._spooled)})
                WHERE ord IN (SELECT ord FROM __view_failed) ORDER BY ord"""
        ).fetchall()
        for ord_, source, line, rtype, text in rows:
            self._quarantine(
                {"source_file": source, "line": line, "resource_type": rtype,
                 "reason": failed[ord_], "excerpt": text}
            )  # fmt: skip

    def _conflicts(self) -> None:
        assert self.con is not None
        rows = self.con.execute(
            """SELECT c.source_file, c.line, c.resource_type, c.resource_id, c.version,
                      left(c.json, 400) FROM cand c JOIN cls USING (ord)
               WHERE cls.status = 'conflict' ORDER BY c.ord"""
        ).fetchall()
        for source, line, rtype, rid, version, text in rows:
            reason = f"{rtype}/{rid} version {version[:64]} is already known with other content"
            self._quarantine(
                {"source_file": source, "line": line, "resource_type": rtype,
                 "reason": reason, "excerpt": text}
            )  # fmt: skip

    # -- commit ------------------------------------------------------------------------------

    _added_sql = (
        "SELECT c.content_hash FROM cand c JOIN cls USING (ord) WHERE cls.status = 'added' "
        "UNION ALL SELECT content_hash FROM __hl7"
    )

    def commit(self, started: float) -> None:
        self._stage()
        con = self.con
        assert con is not None
        self._count()
        base = self.lake.catalog().next_seq
        self._hl7_raw(con)
        self.snapshot_id = set_hash_of(con, self._added_sql)
        n_added = _scalar(con, f"SELECT count(*) FROM ({self._added_sql})")
        py_rows: dict[str, dict[str, list[dict[str, Any]]]] = {
            t: dict(v) for t, v in (self._rows or {}).items()
        }
        wo = self._work_order_rows()
        if wo:
            py_rows["work_orders"] = wo
        new_locations = bool(
            _scalar(con, "SELECT count(*) FROM added WHERE win AND resource_type = 'Location'")
        ) or bool(py_rows.get("locations"))
        q_added = self._stage_quarantine()
        if not n_added and not q_added:
            return
        self.no_change = not n_added
        self.lap("hashes")
        for table in TABLE_KEYS:
            view = self.views.get(table)
            self.tables.build(
                table, view.resource if view else None, py_rows.get(table, {}), new_locations
            )
        self.lap("tables")
        self._write_raw(con)
        self.lap("raw")
        all_raw = self.lake.table_files("resources")
        if all_raw:
            data_hash = set_hash_of(
                con,
                f"SELECT content_hash FROM read_parquet({files_sql(all_raw)}, "
                f"hive_partitioning = false) UNION ALL {self._added_sql}",
            )
        else:  # a fresh lake holds exactly what this ingest added: the snapshot id's hashes
            data_hash = self.snapshot_id
        entry = None
        if n_added:
            entry = SnapshotEntry(
                snapshot_id=self.snapshot_id,
                created_at=datetime.now(UTC).isoformat(),
                added=n_added,
                quarantined=len(self.quarantine),
                no_change=False,
                data_hash=data_hash,
                source=self.source,
                counts={
                    t: ChangeCounts(added=c.new, updated=c.updated, deleted=c.deleted)
                    for t, c in sorted(self.counts.items())
                    if c.added
                },
                seconds=round(time.perf_counter() - started, 3),
            )
        views = {**self.lake.catalog().views, **self.view_hashes}
        next_seq = base + _scalar(con, "SELECT count(*) FROM added") + len(self.raw.rows)
        self.lap("hashes")
        self.writer.commit(data_hash, entry, next_seq=next_seq, views=views)
        self.lap("commit")

    def _count(self) -> None:
        assert self.con is not None
        rows = self.con.execute(
            """SELECT cls.resource_type, cls.status, count(*),
                      count(*) FILTER (WHERE a.deleted),
                      count(*) FILTER (WHERE NOT a.deleted AND NOT a.is_new)
               FROM cls LEFT JOIN added a USING (ord)
               WHERE cls.status <> 'conflict' GROUP BY ALL"""
        ).fetchall()
        for rtype, status, n, deleted, updated in rows:
            counts = self.counts[rtype]
            if status == "added":
                counts.added += n
                counts.deleted += deleted
                counts.updated += updated
            else:
                counts.unchanged += n

    def _work_order_rows(self) -> dict[str, list[dict[str, Any]]]:
        if not self._work_orders:
            return {}
        assert self.con is not None
        wins = self.con.execute(
            f"SELECT ord FROM added WHERE win AND resource_type = '{WORK_ORDER_TYPE}' ORDER BY ord"
        ).fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for (ord_,) in wins:
            row = self._work_orders[ord_]
            out[row["work_order_id"]] = [row]
        return out

    def _hl7_raw(self, con: duckdb.DuckDBPyConnection) -> None:
        """Register ``__hl7``: the HL7 feed's lineage rows, numbered after the added FHIR rows."""
        first = self.lake.catalog().next_seq + _scalar(con, "SELECT count(*) FROM added")
        rows = [
            {**r, "version": r["content_hash"], "version_id": None, "last_updated": None,
             "seq": first + i, "deleted": False, "full_url": None, "snapshot_id": ""}
            for i, r in enumerate(self.raw.rows)
        ]  # fmt: skip
        self._hl7_table = pa.Table.from_pylist(rows, schema=SCHEMAS["resources"])
        con.register("__hl7", self._hl7_table)

    def _write_raw(self, con: duckdb.DuckDBPyConnection) -> None:
        """Append this ingest's raw rows, partitioned by type and month (``last_updated``).

        One COPY per resource type, reading only the spool files that hold the type: DuckDB's
        ``PARTITION_BY`` write costs over twice the CPU of plain writes (7 against 3 CPU
        seconds for a million resources), so it is used only for a type whose rows span
        several months. Row groups are kept small (16 k rows): raw rows are large (the JSON).
        """
        cols = SCHEMAS["resources"].names
        sid = sql_str(self.snapshot_id)
        pick = {
            "snapshot_id": f"{sid} AS snapshot_id",
            "seq": "a.seq AS seq",
            "version_id": "a.version_id AS version_id",
            "last_updated": "a.last_updated AS last_updated",
        }
        select = ", ".join(pick.get(c, f"c.{c}") for c in cols)
        hl7_select = ", ".join(f"{sid} AS snapshot_id" if c == "snapshot_id" else c for c in cols)
        (type_col, type_expr), (month_col, month_expr) = PARTITIONS["resources"]
        assert type_expr == "resource_type", "raw partitions: type, then month"
        month_sql = month_expr.format(ingest_month=datetime.now(UTC).strftime("%Y-%m"))
        months: dict[str, list[str]] = defaultdict(list)
        for rtype, month in con.execute(
            f"""SELECT DISTINCT resource_type, {month_sql} FROM (
                    SELECT resource_type, last_updated FROM added
                    UNION ALL SELECT resource_type, last_updated FROM __hl7) ORDER BY ALL"""
        ).fetchall():
            months[rtype].append(month)
        folder = self.writer.stage_dir("resources")
        opts = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 16384"
        for rtype, type_months in months.items():
            files = [path for path, types in self._spool_types if types.get(rtype)]
            rt = sql_str(rtype)
            rows = f"SELECT {hl7_select} FROM __hl7 WHERE resource_type = {rt}"
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
                name = target / f"part-{self.writer.tag}-0.parquet"
                con.execute(f"COPY ({rows}) TO {sql_str(str(name))} ({opts})")
            else:
                con.execute(
                    f"""COPY (SELECT *, {month_sql} AS "{month_col}" FROM ({rows}))
                        TO {sql_str(str(target))} ({opts}, PARTITION_BY ("{month_col}"),
                        FILENAME_PATTERN 'part-{self.writer.tag}-{{i}}')"""
                )
        self.writer.add_dir("resources", folder)

    def _stage_quarantine(self) -> int:
        """Add this run's new quarantine rows; drop the old ones of what it read again and
        accepted (a corrected file, a retry after a view was fixed). Returns rows changed."""
        old = self.lake.read_table("quarantine")
        keys = ("source_file", "line", "reason", "excerpt")
        now = {tuple(row[k] for k in keys) for row in self.quarantine}
        kept: list[dict[str, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        for row in old.to_pylist() if old.num_rows else []:
            key = tuple(row[k] for k in keys)
            reread = (
                row["source_file"] in self.reread_files
                or (row["source_file"], row["line"]) in self.reread_lines
            )
            if reread and key not in now:
                self.quarantine_removed += 1
                continue
            kept.append(row)
            seen.add(key)
        rows = []
        for row in self.quarantine:
            key = tuple(row[k] for k in keys)
            if key not in seen:
                seen.add(key)
                rows.append({"snapshot_id": self.snapshot_id, **row})
        schema = SCHEMAS["quarantine"]
        if self.quarantine_removed:
            self.writer.replace("quarantine", pa.Table.from_pylist(kept + rows, schema=schema))
        elif rows:
            self.writer.append("quarantine", pa.Table.from_pylist(rows, schema=schema))
        self.quarantine_added = len(rows)
        return len(rows) + self.quarantine_removed

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


__all__ = ["HL7_TYPE", "IngestRun"]
