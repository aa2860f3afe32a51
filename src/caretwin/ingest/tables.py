"""The normalized tables of one ingest: shipped (or workspace) ViewDefinitions, then post-steps.

For every canonical table whose resource type this ingest changed, the table's ViewDefinition
(:func:`caretwin.views.all_views`: shipped, or ``<workspace>/views/<name>.json``) runs, compiled
to DuckDB SQL, over the resources that just became current (``__latest``), and its output is cast
to the contract's types. Then, in DuckDB, the post-steps a view cannot express (it reads one
resource at a time):

1. ``urn:`` references (a Bundle's ``urn:uuid:`` fullUrls) become the id of the entry they
   name, through the raw table's ``full_url`` column;
2. rows of Python feeders replace the rows of the same key: HL7 v2 ADT state (applied after the
   FHIR resources of the same ingest) and CMMS work orders;
3. the table is merged: the lake's rows whose key was changed or deleted are dropped, the new rows
   added;
4. ``Location?identifier=`` references (Synthea's) resolve against every current Location of the
   lake, including rows written before their Location arrived;
5. the table is written sorted by key, partitioned by month where it has a date (docs/lake.md).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from caretwin.errors import CareTwinError, DataError
from caretwin.fhir.refs import LOCATION_QUERY
from caretwin.ingest.stage import files_sql
from caretwin.ingest.viewrows import ERROR_COLUMN
from caretwin.lake import SCHEMAS, TABLE_KEYS, Lake, LakeWriter
from caretwin.lake.lake import parquet_select
from caretwin.lake.schema import PARTITIONS
from caretwin.lake.sql import sql_str
from caretwin.lake.versions import latest_sql
from caretwin.views import View
from caretwin.views.canonical import LOCATION_COLUMNS, typed_select
from caretwin.views.fpwalk import NotCompilable
from caretwin.views.native import compile_native
from caretwin.views.runner import RELATION, Source, run_view, try_compile

REF_COLUMNS = ("patient_id", "encounter_id", "location_id", "part_of", "device_id", "based_on")
#: Resources per view batch (see :meth:`TableBuilder.run_views`): two of DuckDB's 122,880-row
#: row groups, since a query over a table scans one row group per thread.
VIEW_BATCH = 245_760

PyRows = Mapping[str, Mapping[str, list[dict[str, Any]]]]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class TableBuilder:
    """Builds every changed normalized table of one ingest on ``con`` (see the module doc)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        lake: Lake,
        writer: LakeWriter,
        spooled: Sequence[tuple[str, Mapping[str, int]]],
        native: Mapping[str, Sequence[str]] | None = None,
        native_errors: set[str] | None = None,
    ) -> None:
        self.con, self.lake, self.writer = con, lake, writer
        self.spooled = spooled
        #: tables whose view rows the parse workers computed: table -> spooled row files
        self.native = dict(native or {})
        self.native_errors = native_errors or set()
        #: ord -> why: current resources a view failed on (:meth:`run_views` fills it; the
        #: ingest quarantines them and runs the views again without them)
        self.failed: dict[int, str] = {}
        self._locs = False
        self._urns = False
        self.changed_types = {
            r[0]
            for r in con.execute("SELECT DISTINCT resource_type FROM added WHERE win").fetchall()
        }

    def run_views(self, views: Mapping[str, View]) -> dict[str, float]:
        """``v_<table>``: each view's output over this ingest's current resources, typed.

        The resources of one type are loaded into DuckDB in batches of :data:`VIEW_BATCH`, and
        every view of that type runs on each batch: the batch's JSON is held in DuckDB, so a
        whole type at once (380 k Encounters, 350 MB of JSON) would exceed the memory budget
        and spill. Batches of one row group (100 k) ran each view on one thread; two row groups
        use both cores. Returns the seconds each view took.
        """
        source = Source(self.con)  # installs the views' SQL macros
        seconds: dict[str, float] = {}
        by_type: dict[str, list[tuple[str, View]]] = {}
        for table, view in sorted(views.items()):
            missing = [n for n in SCHEMAS[table].names if n not in view.column_names()]
            if missing:
                raise DataError(f"view {view.name} lacks the columns {missing} of table {table}")
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE v_{table} AS {self._empty(table)}")
            if view.resource not in self.changed_types:
                continue
            if table in self.native:
                started = time.perf_counter()
                self._native_rows(table, view)
                seconds[table] = round(time.perf_counter() - started, 3)
            else:
                by_type.setdefault(view.resource, []).append((table, view))
        for rtype, group in sorted(by_type.items()):
            for files in self._batches(rtype):
                self.con.execute(
                    "CREATE OR REPLACE TEMP TABLE __lt AS SELECT c.resource_type, "
                    f"c.resource_id, c.json, c.ord FROM read_parquet({files_sql(files)}) c "
                    f"SEMI JOIN ({_current_ords(rtype)}) w "
                    f"ON c.ord = w.ord WHERE c.resource_type = {sql_str(rtype)}"
                )
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW {RELATION} AS SELECT * FROM __lt")
                for table, view in group:
                    started = time.perf_counter()
                    self._run_view(table, view, source)
                    seconds[table] = round(
                        seconds.get(table, 0.0) + time.perf_counter() - started, 3
                    )
        self.con.execute("DROP TABLE IF EXISTS __lt")
        self.con.execute("DROP TABLE IF EXISTS __probe")
        return dict(sorted(seconds.items()))

    def _native_rows(self, table: str, view: View) -> None:
        """``v_<table>`` from the rows the parse workers spooled, for current resources only."""
        files = self.native[table]
        if not files:
            return
        current = (
            f"SELECT * FROM read_parquet({files_sql(files)}) s "
            f"SEMI JOIN ({_current_ords(view.resource)}) w ON s.ord = w.ord"
        )
        if table in self.native_errors:  # some resource failed: is one of them current?
            failed = self.con.execute(
                f"SELECT DISTINCT ord, {ERROR_COLUMN} FROM ({current}) "
                f"WHERE {ERROR_COLUMN} IS NOT NULL ORDER BY ord"
            ).fetchall()
            for ord_, message in failed:
                self.failed.setdefault(ord_, f"view {view.name}: {message}")
        typed = typed_select(SCHEMAS[table])
        self.con.execute(f"INSERT INTO v_{table} SELECT {typed} FROM ({current})")

    def _batches(self, rtype: str) -> Iterator[list[str]]:
        """Spool files holding ``rtype``, grouped to about :data:`VIEW_BATCH` of its rows."""
        batch: list[str] = []
        rows = 0
        for path, types in self.spooled:
            n = types.get(rtype, 0)
            if not n:
                continue
            if batch and rows + n > VIEW_BATCH:
                yield batch
                batch, rows = [], 0
            batch.append(path)
            rows += n
        if batch:
            yield batch

    def _run_view(self, table: str, view: View, source: Source) -> None:
        try:
            self._insert_view(table, view, source)
        except (duckdb.Error, CareTwinError):
            # Some resource of the batch fails the view: find which (halving the batch), as
            # the native engine knows per resource; the ingest quarantines them and runs again.
            ords = [r[0] for r in self.con.execute("SELECT ord FROM __lt ORDER BY ord").fetchall()]
            self.con.execute("CREATE OR REPLACE TEMP TABLE __lt_all AS SELECT * FROM __lt")
            failing = dict(self._failing(table, view, source, ords))
            if len(failing) == len(ords) > 1:  # not the data: the view fails on anything
                msg = failing[ords[0]]
                raise DataError(f"view {view.name} failed during ingest: {msg}") from None
            for ord_, message in failing.items():
                self.failed.setdefault(ord_, f"view {view.name}: {message}")
            self.con.execute("CREATE OR REPLACE TEMP TABLE __lt AS SELECT * FROM __lt_all")
            self.con.execute("DROP TABLE __lt_all")

    def _insert_view(self, table: str, view: View, source: Source, into: str = "") -> None:
        compiled, _ = try_compile(view)
        if compiled is not None:
            body = compiled.sql
        else:  # interpreted (e.g. repeat): its rows come back through Arrow
            result = run_view(view, source, "interpreted")
            self.con.register("__py_view", result.table)
            body = "SELECT * FROM __py_view"
        typed = typed_select(SCHEMAS[table])
        if into:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT {typed} FROM ({body})")
        else:
            self.con.execute(f"INSERT INTO v_{table} SELECT {typed} FROM ({body})")

    def _failing(
        self, table: str, view: View, source: Source, ords: list[int]
    ) -> Iterator[tuple[int, str]]:
        """(ord, message) of the resources among ``ords`` the view fails on, on their own."""
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE __lt AS SELECT * FROM __lt_all "
            f"WHERE ord IN (SELECT unnest({list(ords)}::BIGINT[]))"
        )
        try:
            self._insert_view(table, view, source, into="__probe")
            return
        except (duckdb.Error, CareTwinError) as exc:
            message = _error_text(exc)
        if len(ords) == 1:
            yield ords[0], message
            return
        half = len(ords) // 2
        yield from self._failing(table, view, source, ords[:half])
        yield from self._failing(table, view, source, ords[half:])

    def _empty(self, table: str) -> str:
        cols = ", ".join(f"NULL::{_duck(f.type)} AS {_q(f.name)}" for f in SCHEMAS[table])
        return f"SELECT {cols} WHERE false"

    def build(
        self,
        table: str,
        resource: str | None,
        py_rows: Mapping[str, list[dict[str, Any]]],
        new_locations: bool,
    ) -> bool:
        """Stage ``table`` if anything changed it; True when it was rewritten."""
        key = TABLE_KEYS[table]
        has_view = resource is not None and resource in self.changed_types
        loc_col = LOCATION_COLUMNS.get(table)
        old_files = self.lake.table_files(table)
        if not has_view and not py_rows and not (new_locations and loc_col and old_files):
            return False
        con = self.con
        cols = ", ".join(_q(c) for c in SCHEMAS[table].names)
        old = parquet_select(table, old_files) if old_files else self._empty(table)
        parts = []
        replaced = []
        if has_view:
            replaced.append(
                "SELECT resource_id AS k FROM added WHERE win AND resource_type = "
                + sql_str(str(resource))
            )
            new = self._resolve_urns(table, f"SELECT {cols} FROM v_{table}")
            parts.append(new)
        if py_rows:
            rows = [r for group in py_rows.values() for r in group]
            con.register(f"__rows_{table}", pa.Table.from_pylist(rows, schema=SCHEMAS[table]))
            con.register(f"__keys_{table}", pa.table({"k": pa.array(list(py_rows), pa.string())}))
            replaced.append(f"SELECT k FROM __keys_{table}")
            if parts:
                parts = [
                    f"SELECT * FROM ({parts[0]}) WHERE {_q(key)} NOT IN "
                    f"(SELECT k FROM __keys_{table})"
                ]
            parts.append(f"SELECT {cols} FROM __rows_{table}")
        if replaced:
            drop = " UNION ALL ".join(replaced)
            parts.insert(0, f"SELECT * FROM ({old}) WHERE {_q(key)} NOT IN ({drop})")
        else:
            parts.insert(0, old)
        merged = " UNION ALL ".join(f"SELECT {cols} FROM ({p})" for p in parts)
        if loc_col is not None:
            merged = self._resolve_locations(merged, table, loc_col)
        self._write(table, merged)
        return True

    def _write(self, table: str, sql: str) -> None:
        key = TABLE_KEYS[table]
        order = _q(key) + (', "seq"' if table == "movements" else "")
        folder = self.writer.stage_dir(table)
        parts = PARTITIONS.get(table, ())
        extra = "".join(f", {expr} AS {_q(name)}" for name, expr in parts)
        opts = f"FORMAT parquet, COMPRESSION zstd, FILENAME_PATTERN 'part-{self.writer.tag}-{{i}}'"
        if parts:
            opts += ", PARTITION_BY (" + ", ".join(_q(n) for n, _ in parts) + ")"
            target = folder
        else:
            target = folder / f"part-{self.writer.tag}-0.parquet"
            opts = "FORMAT parquet, COMPRESSION zstd"
        self.con.execute(
            f"COPY (SELECT *{extra} FROM ({sql}) ORDER BY {order}) TO '{target}' ({opts})"
        )
        self.writer.add_dir(table, folder, replace=True)

    # -- post-steps ------------------------------------------------------------------------

    def _resolve_urns(self, table: str, sql: str) -> str:
        refs = [c for c in REF_COLUMNS if c in SCHEMAS[table].names and c != TABLE_KEYS[table]]
        if not refs:
            return sql
        test = " OR ".join(f"starts_with({_q(c)}, 'urn:')" for c in refs)
        if not self.con.execute(f"SELECT count(*) FROM ({sql}) WHERE {test}").fetchall()[0][0]:
            return sql
        if not self._urns:
            raw = self.lake.table_files("resources")
            old = (
                f"SELECT full_url, resource_id FROM ({parquet_select('resources', raw)}) "
                "WHERE starts_with(full_url, 'urn:')"
                if raw
                else "SELECT NULL::VARCHAR AS full_url, NULL::VARCHAR AS resource_id WHERE false"
            )
            self.con.execute(
                f"""CREATE TEMP TABLE __urns AS SELECT full_url, min(resource_id) AS id FROM (
                    {old} UNION ALL SELECT full_url, resource_id FROM cand
                    WHERE starts_with(full_url, 'urn:')) GROUP BY full_url"""
            )
            self._urns = True
        cols = []
        joins = []
        for f in SCHEMAS[table]:
            if f.name in refs:
                alias = f"__u_{f.name}"
                joins.append(f"LEFT JOIN __urns {alias} ON {alias}.full_url = v.{_q(f.name)}")
                cols.append(f"coalesce({alias}.id, v.{_q(f.name)}) AS {_q(f.name)}")
            else:
                cols.append(f"v.{_q(f.name)}")
        return f"SELECT {', '.join(cols)} FROM ({sql}) v {' '.join(joins)}"

    def _location_ids(self) -> None:
        """``__loc_ids(k, location_id)``: identifier keys of every current Location."""
        if self._locs:
            return
        files = self.lake.partition_files("resources", "type", ["Location"])
        cols = "resource_type, resource_id, json, version_id, last_updated, seq, deleted"
        old = f"SELECT {cols} FROM ({parquet_select('resources', files)})" if files else None
        new = (
            "SELECT c.resource_type, c.resource_id, c.json, a.version_id, a.last_updated, "
            "a.seq, a.deleted FROM cand c JOIN added a USING (ord) "
            "WHERE c.resource_type = 'Location'"
        )
        union = f"({old} UNION ALL {new})" if old else f"({new})"
        self.con.execute(
            f"""CREATE TEMP TABLE __loc_ids AS
            SELECT k, min(resource_id) AS location_id FROM (
                SELECT resource_id, unnest(list_concat(
                    list_transform(idents, lambda i: i ->> 'value'),
                    list_transform(list_filter(idents, lambda i: i ->> 'system' IS NOT NULL),
                        lambda i: (i ->> 'system') || '|' || (i ->> 'value')))) AS k
                FROM (SELECT resource_id, list_filter(
                        CAST(coalesce(json::JSON -> 'identifier', '[]') AS JSON[]),
                        lambda i: i ->> 'value' IS NOT NULL) AS idents
                      FROM ({latest_sql(union)}) WHERE NOT deleted)) GROUP BY k"""
        )
        self._locs = True

    def _resolve_locations(self, sql: str, table: str, column: str) -> str:
        col = _q(column)
        test = f"SELECT count(*) FROM ({sql}) WHERE starts_with({col}, '{LOCATION_QUERY}')"
        if not self.con.execute(test).fetchall()[0][0]:
            return sql
        self._location_ids()
        cols = ", ".join(
            f"coalesce(__ids.location_id, v.{col}) AS {col}"
            if f.name == column
            else f"v.{_q(f.name)}"
            for f in SCHEMAS[table]
        )
        return (
            f"SELECT {cols} FROM ({sql}) v LEFT JOIN __loc_ids __ids "
            f"ON starts_with(v.{col}, '{LOCATION_QUERY}') "
            f"AND __ids.k = v.{col}[{len(LOCATION_QUERY) + 1}:]"
        )


def native_views(views: Mapping[str, View]) -> tuple[tuple[str, str], ...]:
    """(table, ViewDefinition JSON) of the views the native engine runs in the parse workers."""
    out = []
    for table, view in sorted(views.items()):
        try:
            compile_native(view)
        except NotCompilable:
            continue  # compiled SQL (or the interpreter) at commit, as before
        out.append((table, orjson.dumps(view.raw).decode()))
    return tuple(out)


def _error_text(exc: Exception) -> str:
    """The first line of a view error, without DuckDB's class prefix or SQL position."""
    text = str(exc).split("\n\nLINE")[0].splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"^(view \S+ failed: )?([A-Za-z ]+ Error: )?", "", text)


def _current_ords(rtype: str) -> str:
    """``ord`` of the resources of ``rtype`` this ingest made current (not deleted). Filtered
    by type so a join builds on that type's rows only (about twice as fast as on all)."""
    return f"SELECT ord FROM added WHERE win AND NOT deleted AND resource_type = {sql_str(rtype)}"


def _duck(dtype: pa.DataType) -> str:
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ"
    if pa.types.is_date(dtype):
        return "DATE"
    if pa.types.is_int32(dtype):
        return "INTEGER"
    if pa.types.is_int64(dtype):
        return "BIGINT"
    if pa.types.is_floating(dtype):
        return "DOUBLE"
    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    return "VARCHAR"
