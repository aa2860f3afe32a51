"""A ViewDefinition compiled to one DuckDB query over stored FHIR JSON.

The query is a chain of CTEs, one per step of the row-generation algorithm, with no correlated
subqueries (which DuckDB would have to decorrelate): every select element either keeps the
current rows and adds its columns (``SELECT *, <expr> AS "col"``) or multiplies them with
``unnest`` over its ``forEach`` collection, carrying the element and its ``%rowIndex`` in a
struct column. Sibling selects applied one after another give the cross product the spec asks
for; ``unionAll`` is ``UNION ALL BY NAME`` of its branches over the same input. Internal columns
start with ``__`` (a column name in a ViewDefinition cannot), the final SELECT keeps the view's
columns in spec order.

``repeat`` and FHIRPath outside :mod:`caretwin.views.fpsql`'s subset raise NotCompilable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from caretwin.lake.sql import sql_str
from caretwin.views.definition import Column, Select, View
from caretwin.views.fpsql import Expr, Scope, compile_path
from caretwin.views.fpwalk import NotCompilable

#: A reference to the root resource column (``__r``, not ``__rk``) in a compiled step.
_ROOT_REF = re.compile(r"\b__r\b")

__all__ = ["CompiledView", "NotCompilable", "compile_view"]

_INTEGER = {"integer", "positiveInt", "unsignedInt", "integer64"}
_TEXT = {
    "string", "code", "id", "uri", "url", "canonical", "markdown", "oid", "uuid",
    "base64Binary", "date", "dateTime", "instant", "time", "xhtml",
}  # fmt: skip


@dataclass
class CompiledView:
    """The SQL of a view over ``source`` and which output columns hold JSON text."""

    sql: str
    columns: list[str]
    json_columns: set[str] = field(default_factory=set)


def compile_view(view: View, source: str) -> CompiledView:
    """Compile ``view`` to SQL reading ``source`` (a relation with ``resource_type``, ``json``).

    The SQL uses the macros of :mod:`caretwin.views.sqlfuncs`, which must be installed on the
    connection that runs it.
    """
    return _Builder(view).build(source)


class _Builder:
    def __init__(self, view: View) -> None:
        self.view = view
        self.ctes: list[tuple[str, str]] = []
        self.json_columns: set[str] = set()
        self.root_keys: list[str] = []
        #: FHIR type of the element each ``forEach`` context iterates (None when unknown), so
        #: paths below it resolve choice elements from the model instead of by key scanning
        self.ctx_types: dict[str, str | None] = {}
        self._n = 0

    def add(self, sql: str) -> str:
        name = f"__s{len(self.ctes)}"
        self.ctes.append((name, sql))
        return name

    def scope(self, ctx: str, idx: str) -> Scope:
        root = ctx == "__r"
        this = Expr(
            f"ct_one({ctx})", "coll", self.view.resource if root else self.ctx_types.get(ctx)
        )
        keys = self.root_keys if root else None
        return Scope(this, "__r", idx, self.view.constants, self.view.resource, root_keys=keys)

    def build(self, source: str) -> CompiledView:
        rtype = sql_str(self.view.resource)
        # The text is parsed by the one multi-path json_extract of stage 1 (a cast to JSON here
        # would parse, and validate, every resource once more).
        self.add(f"SELECT json AS __r FROM {source} WHERE resource_type = {rtype}")
        rel = self.add("")  # the root keys stage, filled in once every path is compiled
        for path in self.view.where:
            expr = compile_path(path, self.scope("__r", "0"))
            if expr.kind == "bool":
                cond = f"coalesce({expr.sql}, false)"
            else:
                msg = sql_str(f"where {path.text!r} must yield a boolean")
                items = expr.sql
                cond = (
                    f"CASE WHEN len({items}) > 1 OR (len({items}) = 1 AND "
                    f"json_type({items}[1]) <> 'BOOLEAN') THEN error({msg}) "
                    f"ELSE coalesce(CAST({items}[1] AS BOOLEAN), false) END"
                )
            rel = self.add(f"SELECT * FROM {rel} WHERE {cond}")
        for sel in self.view.select:
            rel = self.node(sel, rel, "__r", "0")
        paths = ", ".join(sql_str(f'$."{k}"') for k in self.root_keys) or "'$.\"id\"'"
        # The whole resource is carried on only when a step reads it (``%resource``, a root
        # ``unionAll``): an ``unnest`` would otherwise copy it into every generated row.
        keep = any(_ROOT_REF.search(sql) for _, sql in self.ctes[2:])
        extract = f"json_extract(__r, [{paths}]) AS __rk"
        stage1 = f"SELECT __r::JSON AS __r, {extract}" if keep else f"SELECT {extract}"
        self.ctes[1] = ("__s1", f"{stage1} FROM __s0")
        columns = self.view.column_names()
        listing = ", ".join(f'"{c}"' for c in columns)
        with_clause = ",\n".join(f"{name} AS (\n  {sql}\n)" for name, sql in self.ctes)
        sql = f"WITH {with_clause}\nSELECT {listing} FROM {rel}"
        return CompiledView(sql, columns, self.json_columns)

    def node(self, sel: Select, rel: str, ctx: str, idx: str) -> str:
        if sel.repeat:
            raise NotCompilable("repeat")
        iterator = sel.for_each or sel.for_each_or_null
        if iterator is not None:
            expr = compile_path(iterator, self.scope(ctx, idx))
            items = expr.coll()
            if sel.for_each_or_null is not None:
                items = f"CASE WHEN len({items}) = 0 THEN [NULL::JSON] ELSE {items} END"
            if ctx != "__r":  # the resource itself is never null
                # under the null row of a forEachOrNull the iteration yields one null element
                items = f"CASE WHEN {ctx} IS NULL THEN [NULL::JSON] ELSE {items} END"
            self._n += 1
            u = f"__u{self._n}"
            self.ctx_types[f"{u}.v"] = expr.type
            pairs = f"list_transform({items}, lambda e, i: {{'v': e, 'i': i - 1}})"
            rel = self.add(f"SELECT *, unnest({pairs}) AS {u} FROM {rel}")
            ctx, idx = f"{u}.v", f"{u}.i"
        if sel.columns:
            scope = self.scope(ctx, idx)
            cols = ", ".join(f'{self.column(c, scope, ctx)} AS "{c.name}"' for c in sel.columns)
            rel = self.add(f"SELECT *, {cols} FROM {rel}")
        for sub in sel.selects:
            rel = self.node(sub, rel, ctx, idx)
        if sel.union_all:
            branches = []
            for k, branch in enumerate(sel.union_all):
                src = rel if k == 0 else self.add(f"SELECT * FROM {rel} WHERE {ctx} IS NOT NULL")
                branches.append(f"SELECT * FROM {self.node(branch, src, ctx, idx)}")
            rel = self.add("\n  UNION ALL BY NAME\n  ".join(branches))
        return rel

    def column(self, col: Column, scope: Scope, ctx: str) -> str:
        expr = compile_path(col.path, scope)
        guard = "{}"  # a null element is ct_one(NULL) = [], so paths on it are empty
        if col.collection:
            self.json_columns.add(col.name)
            return guard.format(f"CAST({expr.coll()} AS JSON)")
        if expr.kind == "bool":
            return guard.format(expr.sql)
        msg = sql_str(
            f"column {col.name!r} ({col.path.text!r}) yields several values;"
            " set collection: true or select one value (e.g. first())"
        )
        single = f"ct_single({expr.sql}, {msg})"
        ctype = col.type
        if ctype == "boolean":
            value = f"CAST({single} AS BOOLEAN)"
        elif ctype in _INTEGER:
            value = f"CAST({single} AS BIGINT)"
        elif ctype == "decimal":
            value = f"CAST({single} AS DOUBLE)"
        elif ctype in _TEXT:
            value = f"({single} ->> '$')"
        else:
            self.json_columns.add(col.name)
            value = single
        return guard.format(value)
