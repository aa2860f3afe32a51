"""FHIRPath to Python closures over parsed JSON: the SQL compiler's subset and semantics.

The ingest already holds every resource as a parsed ``dict`` when it checks it, so a view can
be evaluated right there, in the parse workers, instead of re-parsing the stored JSON text in
DuckDB. This module mirrors :mod:`caretwin.views.fpsql` node for node: a collection is a Python
list of JSON values (arrays flattened, nulls dropped), a boolean is ``True``/``False``/``None``
(``None`` the empty collection, with SQL's three-valued ``and``/``or``), and each macro of
:mod:`caretwin.views.sqlfuncs` has its function in :mod:`caretwin.views.pyvalues`. Whatever
the SQL compiler declines this declines too (:class:`~caretwin.views.fpsql.NotCompilable`), so
the two always cover the same views; the conformance suite runs both and compares them case by
case.

A compiled expression is a function of a context ``(this, resource, row_index)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from caretwin.views.fpwalk import NotCompilable, PathWalker, literal_value, type_name
from caretwin.views.paths import Node, ParsedPath
from caretwin.views.pyvalues import (
    PathError,
    ViewRowError,
    and_,
    as_bool,
    choice,
    cmp,
    eq,
    flat,
    nav,
    ne,
    not_,
    num,
    of_bool,
    or_,
    ref_keys,
    text,
    to_int,
)

Ctx = tuple[list[Any], Any, int]
Fn = Callable[[Ctx], Any]


# -- the compiler ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PyExpr:
    fn: Fn
    kind: str  # "coll" (list) or "bool" (True/False/None)
    type: str | None = None
    #: set when the expression is a chain of member names from ``this`` (the common case,
    #: ``period.start``): one closure walks them without nesting calls
    keys: tuple[str, ...] | None = None

    def coll(self) -> Fn:
        if self.kind == "coll":
            return self.fn
        f = self.fn
        return lambda c: of_bool(f(c))

    def bool(self) -> Fn:
        if self.kind == "bool":
            return self.fn
        f = self.fn
        return lambda c: as_bool(f(c))


def _this(c: Ctx) -> list[Any]:
    return c[0]


@dataclass
class PyScope:
    this: PyExpr
    constants: dict[str, Any]
    resource_type: str


def this_expr(type_: str | None) -> PyExpr:
    return PyExpr(_this, "coll", type_, ())


def _walk(keys: tuple[str, ...]) -> Fn:
    """``nav`` by each of ``keys`` from ``this``, fast when each step is one object."""

    def walk(c: Ctx) -> list[Any]:
        cur = c[0]
        for key in keys:
            if len(cur) == 1 and type(cur[0]) is dict:
                v = cur[0].get(key)
                if v is None:
                    return []
                cur = [e for e in v if e is not None] if type(v) is list else [v]
            else:
                cur = nav(cur, key)
            if not cur:
                return []
        return cur

    return walk


def compile_py(path: ParsedPath, scope: PyScope) -> PyExpr:
    """``path`` as a closure over a context (see the module doc)."""
    return _Compiler(scope).expr(path.root, scope.this)


def _nav_expr(base: PyExpr, key: str, tpath: str | None) -> PyExpr:
    if base.keys is not None:
        keys = (*base.keys, key)
        return PyExpr(_walk(keys), "coll", tpath, keys)
    f = base.coll()
    return PyExpr(lambda c: nav(f(c), key), "coll", tpath)


_ARITH: dict[str, Callable[[float, float], float]] = {
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": lambda x, y: x / y if y else (math.copysign(math.inf, x) if x else math.nan),
}


class _Compiler(PathWalker[PyExpr]):
    def __init__(self, scope: PyScope) -> None:
        super().__init__(scope.this, scope.resource_type)
        self.scope = scope

    def nav(self, base: PyExpr, key: str, tpath: str | None) -> PyExpr:
        return _nav_expr(base, key, tpath)

    def choice(self, base: PyExpr, name: str) -> PyExpr:
        f = base.coll()
        return PyExpr(lambda c: choice(f(c), name), "coll", None)

    def indexer(self, base: PyExpr, index: PyExpr) -> PyExpr:
        items_of, idx = base.coll(), index.coll()

        def at(c: Ctx) -> list[Any]:
            n = num(idx(c))
            if n is None:
                return []
            i = to_int(n) + 1  # DuckDB's 1-based list_slice(items, i, i)
            items: list[Any] = items_of(c)
            if i >= 1:
                return items[i - 1 : i]
            if i == 0:
                return []
            return items[i : i + 1] if i < -1 else items[-1:]

        return PyExpr(at, "coll", base.type)

    def logic(self, op: str, a_expr: PyExpr, b_expr: PyExpr) -> PyExpr:
        a, b = a_expr.bool(), b_expr.bool()
        logic: dict[str, Fn] = {
            "and": lambda c: and_(a(c), b(c)),
            "or": lambda c: or_(a(c), b(c)),
            "xor": lambda c: ne(a(c), b(c)),
            "implies": lambda c: or_(not_(a(c)), b(c)),
        }
        if op not in logic:
            raise NotCompilable(f"operator {op}")
        return PyExpr(logic[op], "bool")

    def equality(self, op: str, a_expr: PyExpr, b_expr: PyExpr) -> PyExpr:
        a, b = a_expr.coll(), b_expr.coll()
        if op == "=":
            return PyExpr(lambda c: eq(a(c), b(c)), "bool")
        return PyExpr(lambda c: not_(eq(a(c), b(c))), "bool")

    def inequality(self, op: str, a_expr: PyExpr, b_expr: PyExpr) -> PyExpr:
        a, b = a_expr.coll(), b_expr.coll()
        test: Callable[[int], bool] = {
            "<": lambda d: d < 0,
            ">": lambda d: d > 0,
            "<=": lambda d: d <= 0,
            ">=": lambda d: d >= 0,
        }[op]

        def compare(c: Ctx) -> bool | None:
            d = cmp(a(c), b(c))
            return None if d is None else test(d)

        return PyExpr(compare, "bool")

    def arithmetic(self, op: str, a_expr: PyExpr, b_expr: PyExpr) -> PyExpr:
        a, b = a_expr.coll(), b_expr.coll()

        def first_text(values: list[Any]) -> str | None:
            return text(values[0]) if values else None

        if op == "&":
            return PyExpr(lambda c: [(first_text(a(c)) or "") + (first_text(b(c)) or "")], "coll")
        if op == "+":

            def plus(c: Ctx) -> list[Any]:
                x, y = a(c), b(c)
                if x and type(x[0]) is str:
                    tx, ty = first_text(x), first_text(y)
                    return [] if tx is None or ty is None else [tx + ty]
                nx, ny = num(x), num(y)
                return [] if nx is None or ny is None else [nx + ny]

            return PyExpr(plus, "coll")
        fn = _ARITH[op]

        def arith(c: Ctx) -> list[Any]:
            nx, ny = num(a(c)), num(b(c))
            return [] if nx is None or ny is None else [fn(nx, ny)]

        return PyExpr(arith, "coll")

    def literal(self, node: Node) -> PyExpr:
        kind, value = literal_value(node)
        if kind == "boolean":
            return PyExpr(lambda c: value, "bool")
        items = [] if value is None else [value]
        return PyExpr(lambda c: items, "coll", "string" if kind == "string" else None)

    def constant(self, name: str) -> PyExpr:
        if name == "rowIndex":
            return PyExpr(lambda c: [c[2]], "coll")
        if name in ("resource", "rootResource"):
            return PyExpr(lambda c: [c[1]], "coll", self.scope.resource_type)
        if name in self.scope.constants:
            items = flat([self.scope.constants[name]])
            return PyExpr(lambda c: items, "coll")
        raise NotCompilable(f"%{name}")

    def function(self, name: str, params: list[Node], base: PyExpr) -> PyExpr:
        f = base.coll()
        n = len(params)
        this = self.scope.this
        if name == "first" and not n:
            return PyExpr(lambda c: f(c)[:1], "coll", base.type)
        if name == "last" and not n:
            return PyExpr(lambda c: f(c)[-1:], "coll", base.type)
        if name in ("exists", "empty") and n <= 1:
            g = self.where(base, params[0]).fn if n else f
            if name == "exists":
                return PyExpr(lambda c: len(g(c)) > 0, "bool")
            return PyExpr(lambda c: len(g(c)) == 0, "bool")
        if name == "iif" and n in (2, 3) and base is this:
            cond = self.expr(params[0], this).bool()
            then = self.expr(params[1], this)
            then_f = then.coll()
            other = self.expr(params[2], this).coll() if n == 3 else (lambda c: [])
            return PyExpr(lambda c: then_f(c) if cond(c) else other(c), "coll", then.type)
        if name == "where" and n == 1:
            return self.where(base, params[0])
        if name == "count" and not n:
            return PyExpr(lambda c: [len(f(c))], "coll")
        if name == "not" and not n:
            b = base.bool()
            return PyExpr(lambda c: not_(b(c)), "bool")
        if name == "getResourceKey" and not n:
            return _nav_expr(base, "id", "id")
        if name == "getReferenceKey" and n <= 1:
            want = type_name(params[0]) if params else None
            return PyExpr(lambda c: ref_keys(f(c), want), "coll", "string")
        if name == "extension" and n == 1:
            url = self.expr(params[0], this).coll()

            def extension(c: Ctx) -> list[Any]:
                u = url(c)
                want = text(u[0]) if u else None
                exts = nav(f(c), "extension")
                if want is None:
                    return []
                return [e for e in exts if type(e) is dict and text(e.get("url")) == want]

            return PyExpr(extension, "coll", "Extension")
        if name == "join" and n <= 1:
            sep = self.expr(params[0], this).coll() if params else (lambda c: [""])

            def join(c: Ctx) -> list[Any]:
                s = sep(c)
                if not s:
                    return []
                return [str(text(s[0])).join(str(text(v)) for v in f(c))]

            return PyExpr(join, "coll", "string")
        if name in ("lower", "upper", "trim") and not n:
            op: Callable[[str], str] = {
                "lower": str.lower,
                "upper": str.upper,
                "trim": lambda s: s.strip(" "),
            }[name]

            def string_fn(c: Ctx) -> list[Any]:
                items = f(c)
                return [op(str(text(items[0])))] if items else []

            return PyExpr(string_fn, "coll", "string")
        if name in ("startsWith", "endsWith", "contains") and n == 1:
            arg = self.expr(params[0], this).coll()
            test: Callable[[str, str], bool] = {
                "startsWith": str.startswith,
                "endsWith": str.endswith,
                "contains": lambda s, t: t in s,
            }[name]

            def string_test(c: Ctx) -> bool | None:
                items, other = f(c), arg(c)
                if not items or not other:
                    return None
                return test(str(text(items[0])), str(text(other[0])))

            return PyExpr(string_test, "bool")
        raise NotCompilable(f"{name}() with {n} parameter(s)")

    def where(self, base: PyExpr, crit: Node) -> PyExpr:
        inner = PyScope(this_expr(base.type), self.scope.constants, self.scope.resource_type)
        cond = _Compiler(inner).expr(crit, inner.this).bool()
        f = base.coll()
        return PyExpr(lambda c: [x for x in f(c) if cond(([x], c[1], c[2]))], "coll", base.type)


__all__ = ["PathError", "PyExpr", "PyScope", "ViewRowError", "compile_py", "text", "this_expr"]
