"""FHIRPath to DuckDB SQL, for the subset views use; anything else raises NotCompilable.

An expression compiles to :class:`Expr`: either a ``JSON[]`` collection (``kind="coll"``) or a
SQL ``BOOLEAN`` (``kind="bool"``, NULL meaning empty). The walk over the AST, element types from
the R4 model (``value.ofType(Quantity)`` reads ``valueQuantity``; a choice element without
``ofType`` reads whichever ``value[x]`` is present) and ``ofType`` are shared with the native
engine (:mod:`caretwin.views.fpwalk`); this module says what each node is in SQL. Declining is
always safe: the runner then interprets the view with fhirpathpy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson

from caretwin.lake.sql import sql_str
from caretwin.views.fpwalk import NotCompilable, PathWalker, literal_value, type_name
from caretwin.views.paths import Node, ParsedPath

_STRING_FUNCS = {"lower": "lower", "upper": "upper", "trim": "trim"}


def json_literal(value: Any) -> str:
    return f"{sql_str(orjson.dumps(value).decode())}::JSON"


@dataclass(frozen=True)
class Expr:
    sql: str
    kind: str  # "coll" (JSON[]) or "bool" (BOOLEAN)
    type: str | None = None  # FHIR type path of the items, when known

    def coll(self) -> str:
        return self.sql if self.kind == "coll" else f"ct_of_bool({self.sql})"

    def bool(self) -> str:
        return self.sql if self.kind == "bool" else f"ct_bool({self.sql})"


@dataclass
class Scope:
    """What an expression is evaluated against."""

    this: Expr
    resource_sql: str
    row_index_sql: str
    constants: dict[str, Any]
    resource_type: str
    _names: itertools.count[int] = field(default_factory=itertools.count)
    #: When set, ``this`` is the root resource and its top-level keys are read from one
    #: multi-path ``json_extract`` column (the JSON text is parsed once, not once per path).
    root_keys: list[str] | None = None

    def nav(self, base: Expr, key: str, tpath: str | None) -> Expr:
        if self.root_keys is not None and base is self.this:
            if key not in self.root_keys:
                self.root_keys.append(key)
            return Expr(f"ct_items(__rk[{self.root_keys.index(key) + 1}])", "coll", tpath)
        path = sql_str('$."' + key + '"')
        return Expr(f"ct_nav({base.coll()}, {path})", "coll", tpath)

    def lambda_var(self) -> str:
        return f"x{next(self._names)}"


def compile_path(path: ParsedPath, scope: Scope) -> Expr:
    return _Compiler(scope).expr(path.root, scope.this)


class _Compiler(PathWalker[Expr]):
    def __init__(self, scope: Scope) -> None:
        super().__init__(scope.this, scope.resource_type)
        self.scope = scope

    def nav(self, base: Expr, key: str, tpath: str | None) -> Expr:
        return self.scope.nav(base, key, tpath)

    def choice(self, base: Expr, name: str) -> Expr:
        return Expr(f"ct_choice({base.coll()}, {sql_str(name)})", "coll", None)

    def indexer(self, base: Expr, index: Expr) -> Expr:
        i = f"CAST(ct_num({index.coll()}) AS BIGINT) + 1"
        return Expr(f"list_slice({base.coll()}, {i}, {i})", "coll", base.type)

    def logic(self, op: str, a: Expr, b: Expr) -> Expr:
        x, y = a.bool(), b.bool()
        sql = {
            "and": f"({x} AND {y})",
            "or": f"({x} OR {y})",
            "xor": f"({x} <> {y})",
            "implies": f"(NOT {x} OR {y})",
        }.get(op)
        if sql is None:
            raise NotCompilable(f"operator {op}")
        return Expr(sql, "bool")

    def equality(self, op: str, a: Expr, b: Expr) -> Expr:
        eq = f"ct_eq({a.coll()}, {b.coll()})"
        return Expr(eq if op == "=" else f"(NOT {eq})", "bool")

    def inequality(self, op: str, a: Expr, b: Expr) -> Expr:
        return Expr(f"(ct_cmp({a.coll()}, {b.coll()}) {op} 0)", "bool")

    def arithmetic(self, op: str, a_expr: Expr, b_expr: Expr) -> Expr:
        a, b = a_expr.coll(), b_expr.coll()
        if op == "&":
            return Expr(
                f"[to_json(coalesce(ct_text({a}), '') || coalesce(ct_text({b}), ''))]", "coll"
            )
        if op == "+":  # numbers add, strings concatenate
            text = f"ct_of_text(ct_text({a}) || ct_text({b}))"
            num = f"ct_of_num(ct_num({a}) + ct_num({b}))"
            is_text = f"len({a}) > 0 AND json_type({a}[1]) = 'VARCHAR'"
            sql = f"(CASE WHEN {is_text} THEN {text} ELSE {num} END)"
            return Expr(sql, "coll")
        return Expr(f"ct_of_num(ct_num({a}) {op} ct_num({b}))", "coll")

    def literal(self, node: Node) -> Expr:
        kind, value = literal_value(node)
        if kind == "boolean":
            return Expr("true" if value else "false", "bool")
        if kind == "null":
            return Expr("[]::JSON[]", "coll")
        return Expr(f"[{json_literal(value)}]", "coll", "string" if kind == "string" else None)

    def constant(self, name: str) -> Expr:
        if name == "rowIndex":
            return Expr(f"[to_json({self.scope.row_index_sql})]", "coll")
        if name in ("resource", "rootResource"):
            return Expr(f"ct_one({self.scope.resource_sql})", "coll", self.scope.resource_type)
        if name in self.scope.constants:
            value = self.scope.constants[name]
            return Expr(f"ct_items({json_literal(value)})", "coll")
        raise NotCompilable(f"%{name}")

    def function(self, name: str, params: list[Node], base: Expr) -> Expr:
        coll = base.coll()
        nparams = len(params)
        if name == "first" and not nparams:
            return Expr(f"list_slice({coll}, 1, 1)", "coll", base.type)
        if name == "last" and not nparams:
            return Expr(f"list_slice({coll}, -1, -1)", "coll", base.type)
        if name in ("exists", "empty") and nparams <= 1:
            if nparams:
                coll = self.where(base, params[0]).sql
            return Expr(f"(len({coll}) {'>' if name == 'exists' else '='} 0)", "bool")
        if name == "iif" and nparams in (2, 3) and base is self.scope.this:
            cond, then = (self.expr(p, self.scope.this) for p in params[:2])
            other = self.expr(params[2], self.scope.this).coll() if nparams == 3 else "[]::JSON[]"
            sql = f"(CASE WHEN coalesce({cond.bool()}, false) THEN {then.coll()} ELSE {other} END)"
            return Expr(sql, "coll", then.type)
        if name == "where" and nparams == 1:
            return self.where(base, params[0])
        if name == "count" and not nparams:
            return Expr(f"[to_json(len({coll}))]", "coll")
        if name == "not" and not nparams:
            return Expr(f"(NOT {base.bool()})", "bool")
        if name == "getResourceKey" and not nparams:
            return self.scope.nav(base, "id", "id")
        if name == "getReferenceKey" and nparams <= 1:
            want = sql_str(type_name(params[0])) if params else "NULL"
            return Expr(f"ct_ref_keys({coll}, {want})", "coll", "string")
        if name == "extension" and nparams == 1:
            url = self.expr(params[0], self.scope.this)
            var = self.scope.lambda_var()
            ext = f"ct_nav({coll}, '$.\"extension\"')"
            sql = f"list_filter({ext}, lambda {var}: ({var} ->> 'url') = ct_text({url.coll()}))"
            return Expr(sql, "coll", "Extension")
        if name == "join" and nparams <= 1:
            sep = f"ct_text({self.expr(params[0], self.scope.this).coll()})" if params else "''"
            var = self.scope.lambda_var()
            items = f"list_transform({coll}, lambda {var}: {var} ->> '$')"
            return Expr(f"[to_json(array_to_string({items}, {sep}))]", "coll", "string")
        if name in _STRING_FUNCS and not nparams:
            return Expr(f"ct_of_text({_STRING_FUNCS[name]}(ct_text({coll})))", "coll", "string")
        if name in ("startsWith", "endsWith", "contains") and nparams == 1:
            arg = f"ct_text({self.expr(params[0], self.scope.this).coll()})"
            sqlfn = {"startsWith": "starts_with", "endsWith": "ends_with", "contains": "contains"}
            return Expr(f"{sqlfn[name]}(ct_text({coll}), {arg})", "bool")
        raise NotCompilable(f"{name}() with {nparams} parameter(s)")

    def where(self, base: Expr, crit: Node) -> Expr:
        var = self.scope.lambda_var()
        inner = Scope(
            Expr(f"[{var}]", "coll", base.type),
            self.scope.resource_sql,
            self.scope.row_index_sql,
            self.scope.constants,
            self.scope.resource_type,
            self.scope._names,
        )
        cond = _Compiler(inner).expr(crit, inner.this).bool()
        return Expr(
            f"list_filter({base.coll()}, lambda {var}: coalesce({cond}, false))", "coll", base.type
        )
