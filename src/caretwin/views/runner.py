"""Running a view: compiled SQL when possible, the fhirpathpy interpreter otherwise.

A :class:`Source` is where resources live: :class:`MemorySource` (a list, e.g. a conformance
file) or :class:`LakeSource` (the lake's raw ``resources`` table, current version of each
resource, as the normalized tables have it). Both expose a DuckDB
relation ``__latest(resource_type, resource_id, json)`` and an iterator of parsed resources.

``engine="auto"`` compiles and falls back to interpreting when the compiler declines
(:class:`NotCompilable`); the result says which engine ran and why it fell back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import orjson
import pyarrow as pa

from caretwin.errors import DataError
from caretwin.lake import Lake
from caretwin.lake.sql import sql_str
from caretwin.lake.versions import latest_sql
from caretwin.views import sqlfuncs
from caretwin.views.compiler import CompiledView, NotCompilable, compile_view
from caretwin.views.definition import View
from caretwin.views.interpreter import interpret
from caretwin.views.native import ViewRowError, compile_native

Engine = Literal["auto", "compiled", "native", "interpreted"]
RELATION = "__latest"


class Source:
    """Resources a view reads, as a DuckDB relation and as parsed JSON."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        sqlfuncs.install(con)

    def resources(self, resource_type: str) -> Iterator[dict[str, Any]]:
        # Materialized first: a half-read DuckDB result would block the connection if the
        # caller stops early (a limit, an error in a view).
        texts = _arrow(
            self.con.sql(
                f"SELECT json FROM {RELATION} WHERE resource_type = {sql_str(resource_type)}"
            )
        )["json"].to_pylist()
        for text in texts:
            yield orjson.loads(text)

    def count(self, resource_type: str) -> int:
        rows = self.con.execute(
            f"SELECT count(*) FROM {RELATION} WHERE resource_type = ?", [resource_type]
        ).fetchall()
        return int(rows[0][0])

    def close(self) -> None:
        self.con.close()


class MemorySource(Source):
    """A list of resources (ids need not be unique: every one is a row)."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        super().__init__(duckdb.connect(":memory:"))
        self.con.execute("SET TimeZone = 'UTC'")
        table = pa.table(
            {
                "resource_type": [str(r.get("resourceType")) for r in resources],
                "resource_id": [r.get("id") for r in resources],
                # canonical text (sorted keys), as the lake stores resources
                "json": [orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode() for r in resources],
            },
            schema=pa.schema(
                [
                    ("resource_type", pa.string()),
                    ("resource_id", pa.string()),
                    ("json", pa.string()),
                ]
            ),
        )
        self.con.register("__memory", table)
        self.con.execute(f"CREATE TEMP VIEW {RELATION} AS SELECT * FROM __memory")


class LakeSource(Source):
    """The lake's raw resources, the current version of each (type, id); deleted ones left out.

    "Current" is the rule of :mod:`caretwin.lake.versions` (versionId, lastUpdated, ingest
    order), the one ingestion applies to the normalized tables.
    """

    def __init__(self, lake: Lake) -> None:
        super().__init__(lake.connect())
        self.con.execute(
            f"CREATE TEMP VIEW {RELATION} AS SELECT resource_type, resource_id, json "
            f"FROM ({latest_sql('resources')}) WHERE NOT coalesce(deleted, false)"
        )


@dataclass
class ViewResult:
    """A view's output as Arrow, plus how it was produced."""

    view: View
    engine: str
    table: pa.Table
    seconds: float
    resources: int
    sql: str | None = None
    fallback_reason: str | None = None
    json_columns: frozenset[str] = frozenset()

    def rows(self) -> list[dict[str, Any]]:
        """Rows as JSON-like dicts (collection and complex columns parsed)."""
        out: list[dict[str, Any]] = self.table.to_pylist()
        for row in out:
            for name in self.json_columns:
                if isinstance(row.get(name), str):
                    row[name] = orjson.loads(row[name])
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "view": self.view.name or self.view.resource,
            "engine": self.engine,
            "rows": self.table.num_rows,
            "resources": self.resources,
            "seconds": round(self.seconds, 4),
            "resources_per_second": round(self.resources / self.seconds, 1)
            if self.seconds
            else None,
            "fallback_reason": self.fallback_reason,
        }


def try_compile(view: View) -> tuple[CompiledView | None, str | None]:
    """(compiled view, None) or (None, why the compiler declined)."""
    try:
        return compile_view(view, RELATION), None
    except NotCompilable as exc:
        return None, str(exc)


def run_view(
    view: View, source: Source, engine: Engine = "auto", limit: int | None = None
) -> ViewResult:
    """Run ``view`` over ``source`` with the requested engine."""
    started = time.perf_counter()
    if engine == "native":
        return _run_native(view, source, limit, started)
    compiled, reason = (
        try_compile(view) if engine != "interpreted" else (None, "interpreter requested")
    )
    if compiled is None and engine == "compiled":
        raise DataError(f"view {view.name or view.resource} does not compile to SQL: {reason}")
    if compiled is not None:
        sql = compiled.sql + (f" LIMIT {int(limit)}" if limit is not None else "")
        try:
            table = _arrow(source.con.sql(sql))
        except duckdb.Error as exc:
            raise DataError(f"view {view.name or view.resource} failed: {_clean(exc)}") from None
        return ViewResult(
            view,
            "compiled",
            table,
            time.perf_counter() - started,
            source.count(view.resource),
            compiled.sql,
            None,
            frozenset(compiled.json_columns),
        )
    rows: list[dict[str, Any]] = []
    for row in interpret(view, source.resources(view.resource)):
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    table, json_cols = _rows_to_arrow(view, rows)
    return ViewResult(
        view,
        "interpreted",
        table,
        time.perf_counter() - started,
        source.count(view.resource),
        None,
        reason,
        frozenset(json_cols),
    )


def _run_native(view: View, source: Source, limit: int | None, started: float) -> ViewResult:
    """The native engine (:mod:`caretwin.views.native`) over ``source``'s parsed resources."""
    name = view.name or view.resource
    try:
        native = compile_native(view)
    except NotCompilable as exc:
        raise DataError(f"view {name} has no native form: {exc}") from None
    rows: list[tuple[Any, ...]] = []
    count = 0
    try:
        for resource in source.resources(view.resource):
            count += 1
            rows += native.rows(resource)
            if limit is not None and len(rows) >= limit:
                rows = rows[:limit]
                break
    except ViewRowError as exc:
        raise DataError(f"view {name} failed: {exc}") from None
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in native.columns]
    schema = native.schema()
    table = pa.Table.from_arrays(
        [pa.array(col, f.type) for col, f in zip(columns, schema, strict=True)], schema=schema
    )
    return ViewResult(
        view,
        "native",
        table,
        time.perf_counter() - started,
        count,
        None,
        None,
        frozenset(native.json_columns),
    )


def _rows_to_arrow(view: View, rows: list[dict[str, Any]]) -> tuple[pa.Table, set[str]]:
    """Interpreter rows as Arrow: scalar columns typed, collections and objects as JSON text."""
    arrays: dict[str, pa.Array] = {}
    json_cols: set[str] = set()
    collections = {c.name for c in view.columns() if c.collection}
    for name in view.column_names():
        values = [r[name] for r in rows]
        complex_ = any(isinstance(v, dict | list) for v in values)
        if name not in collections and not complex_:
            try:
                arrays[name] = pa.array(values) if rows else pa.array([], pa.string())
                continue
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass  # mixed types: keep the JSON text
        json_cols.add(name)
        arrays[name] = pa.array(
            [None if v is None else orjson.dumps(v).decode() for v in values], pa.string()
        )
    return pa.table(arrays), json_cols


def _arrow(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    table: pa.Table = fetch()
    return table


def _clean(exc: BaseException) -> str:
    """DuckDB's message without the internal SQL of our macros."""
    text = str(exc)
    return text.split("\n\nLINE")[0].strip()
