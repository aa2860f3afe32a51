"""A ViewDefinition compiled to Python closures over parsed resources: the native engine.

It follows :mod:`caretwin.views.compiler` step for step (``where``, ``forEach`` /
``forEachOrNull`` with ``%rowIndex``, sibling selects as a cross product, ``unionAll`` whose
later branches skip a null element, columns typed by their declared type), with the
expressions of :mod:`caretwin.views.pypath`. Its output columns have the types the compiled SQL
gives them (text, BIGINT, DOUBLE, BOOLEAN, or JSON text), so the two engines' Arrow tables are
interchangeable. Ingestion runs it in the parse workers on each resource it has just checked
(:mod:`caretwin.ingest.parse`); the runner offers it as ``engine="native"``.

A view the compiler declines (``repeat``, FHIRPath outside the subset) raises
:class:`~caretwin.views.fpsql.NotCompilable` here too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import orjson
import pyarrow as pa

from caretwin.views.compiler import _INTEGER, _TEXT
from caretwin.views.definition import Column, Select, View, parse_view
from caretwin.views.fpwalk import NotCompilable
from caretwin.views.pygen import Op, build_select, chain_ops
from caretwin.views.pypath import Ctx, PyExpr, PyScope, compile_py, this_expr
from caretwin.views.pyvalues import PathError, ViewRowError, text, to_bool, to_float, to_int

#: rows of one select over (element, row index, resource); the element is None under a null row
SelectFn = Callable[[Any, int, Any], list[tuple[Any, ...]]]
#: (chain steps or None, closure, conversion, is text, several-values message)
ColumnCode = tuple[list[Op] | None, Callable[[Ctx], Any], Callable[[Any], Any], bool, str]

__all__ = ["NativeView", "PathError", "ViewRowError", "compile_native", "native_from_json"]


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _collection_text(items: list[Any]) -> str:
    # DuckDB's CAST(JSON[] AS JSON) separates items with ", "
    return "[" + ", ".join(_json_text(v) for v in items) + "]"


class NativeView:
    """``rows(resource)``: the view's rows of one resource, as tuples in column order."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.columns = view.column_names()
        self.arrow_types: dict[str, pa.DataType] = {}
        self.json_columns: set[str] = set()
        self._where = [self._where_fn(p) for p in view.where]
        self._selects = [self._select(s, view.resource, root=True) for s in view.select]

    # -- building ----------------------------------------------------------------------------

    def _scope(self, ctx_type: str | None) -> PyScope:
        return PyScope(this_expr(ctx_type), self.view.constants, self.view.resource)

    def _where_fn(self, path: Any) -> Callable[[Ctx], bool]:
        expr = compile_py(path, self._scope(self.view.resource))
        if expr.kind == "bool":
            f = expr.fn
            return lambda c: f(c) is True
        g = expr.fn
        msg = f"where {path.text!r} must yield a boolean"

        def keep(c: Ctx) -> bool:
            items = g(c)
            if len(items) > 1 or (items and type(items[0]) is not bool):
                raise ViewRowError(msg)
            return bool(items and items[0])

        return keep

    def _select(self, sel: Select, ctx_type: str | None, root: bool = False) -> SelectFn:
        """Rows of ``sel`` as tuples in ``sel.column_names()`` order."""
        if sel.repeat:
            raise NotCompilable("repeat")
        iterator = sel.for_each or sel.for_each_or_null
        or_null = sel.for_each_or_null is not None
        items_fn = None
        if iterator is not None:
            expr = compile_py(iterator, self._scope(ctx_type))
            items_fn = expr.coll()
            ctx_type = expr.type
        own_row = build_select([self._column(c, ctx_type) for c in sel.columns])
        subs = [self._select(s, ctx_type) for s in sel.selects]
        branches = [self._branch(b, sel.union_all[0], ctx_type) for b in sel.union_all]
        plain = not subs and not branches

        def run(item: Any, index: int, resource: Any) -> list[tuple[Any, ...]]:
            if items_fn is None:
                pairs: list[tuple[Any, int]] = [(item, index)]
            elif item is None and not root:  # under a null row: one null element
                pairs = [(None, 0)]
            else:
                found = items_fn(([item], resource, index))
                pairs = list(zip(found, range(len(found)), strict=True))
                if or_null and not pairs:
                    pairs = [(None, 0)]
            out: list[tuple[Any, ...]] = []
            for elem, i in pairs:
                c: Ctx = ([] if elem is None else [elem], resource, i)
                own = own_row(elem, c)
                if plain:
                    out.append(own)
                    continue
                rows = [own]
                for sub in subs:  # sibling selects: the cross product of their rows
                    rows = [r + s for r in rows for s in sub(elem, i, resource)]
                if branches:
                    union = [
                        r
                        for k, b in enumerate(branches)
                        if k == 0 or elem is not None
                        for r in b(elem, i, resource)
                    ]
                    rows = [r + u for r in rows for u in union]
                out += rows
            return out

        return run

    def _branch(self, sel: Select, first: Select, ctx_type: str | None) -> SelectFn:
        """A ``unionAll`` branch with its columns in the first branch's order (by name)."""
        run = self._select(sel, ctx_type)
        names, want = sel.column_names(), first.column_names()
        if names == want:
            return run
        where = [names.index(n) if n in names else None for n in want]

        def reordered(item: Any, index: int, resource: Any) -> list[tuple[Any, ...]]:
            return [
                tuple(None if k is None else r[k] for k in where)
                for r in run(item, index, resource)
            ]

        return reordered

    def _column(self, col: Column, ctx_type: str | None) -> ColumnCode:
        """The column's closure, and what :func:`build_select` needs to inline it."""
        expr: PyExpr = compile_py(col.path, self._scope(ctx_type))
        name = col.name
        if col.collection:
            self.arrow_types[name] = pa.string()
            self.json_columns.add(name)
            f = expr.coll()
            return None, lambda c: _collection_text(f(c)), _json_text, False, ""
        if expr.kind == "bool":
            self.arrow_types[name] = pa.bool_()
            return None, expr.fn, bool, False, ""
        msg = (
            f"column {col.name!r} ({col.path.text!r}) yields several values;"
            " set collection: true or select one value (e.g. first())"
        )
        g = expr.fn
        ctype = col.type
        convert: Callable[[Any], Any]
        if ctype == "boolean":
            self.arrow_types[name], convert = pa.bool_(), to_bool
        elif ctype in _INTEGER:
            self.arrow_types[name], convert = pa.int64(), to_int
        elif ctype == "decimal":
            self.arrow_types[name], convert = pa.float64(), to_float
        elif ctype in _TEXT:
            self.arrow_types[name], convert = pa.string(), text
        else:
            self.arrow_types[name], convert = pa.string(), _json_text
            self.json_columns.add(name)
        is_text = convert is text
        ops = chain_ops(col.path, ctx_type, self.view.resource)
        return ops, lambda c: _single_of(g(c), convert, is_text, msg), convert, is_text, msg

    # -- running -----------------------------------------------------------------------------

    def rows(self, resource: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of one resource of the view's type (:class:`ViewRowError` on failure)."""
        try:
            if self._where:
                c: Ctx = ([resource], resource, 0)
                for keep in self._where:
                    if not keep(c):
                        return []
            selects = self._selects
            rows = selects[0](resource, 0, resource)
            for sel in selects[1:]:
                rows = [r + s for r in rows for s in sel(resource, 0, resource)]
        except PathError as exc:
            raise ViewRowError(str(exc)) from None
        return rows

    def schema(self) -> pa.Schema:
        return pa.schema([(n, self.arrow_types[n]) for n in self.columns])


def _single_of(items: list[Any], convert: Callable[[Any], Any], is_text: bool, msg: str) -> Any:
    """A singleton column's value: None when empty, :class:`ViewRowError` when several."""
    if not items:
        return None
    if len(items) > 1:
        raise ViewRowError(msg)
    v = items[0]
    if is_text and type(v) is str:
        return v
    try:
        return convert(v)
    except PathError as exc:
        raise ViewRowError(str(exc)) from None


def compile_native(view: View) -> NativeView:
    """``view`` as a :class:`NativeView`; NotCompilable when the SQL compiler declines too."""
    return NativeView(view)


@lru_cache(maxsize=64)
def native_from_json(text_: str) -> NativeView:
    """A NativeView from a ViewDefinition's JSON text (cached: workers get views as text)."""
    return NativeView(parse_view(orjson.loads(text_)))
