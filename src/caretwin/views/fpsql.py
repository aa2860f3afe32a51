"""FHIRPath to DuckDB SQL, for the subset views use; anything else raises NotCompilable.

An expression compiles to :class:`Expr`: either a ``JSON[]`` collection (``kind="coll"``) or a
SQL ``BOOLEAN`` (``kind="bool"``, NULL meaning empty). Element types are tracked with the R4
model fhirpathpy ships (``path2Type``/``choiceTypePaths``) so that ``value.ofType(Quantity)``
reads ``valueQuantity`` and a choice element without ``ofType`` reads whichever ``value[x]`` is
present. Declining is always safe: the runner then interprets the view with fhirpathpy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson

from caretwin.views.fhirpath import MODEL
from caretwin.views.paths import Node, ParsedPath, identifier

_CHOICE_PATHS: dict[str, Any] = MODEL["choiceTypePaths"]
_PATH_TYPES: dict[str, Any] = MODEL["path2Type"]
_ELSEWHERE: dict[str, Any] = MODEL["pathsDefinedElsewhere"]
_PARENTS: dict[str, Any] = MODEL["type2Parent"]
_CHOICE_NAMES = frozenset(p.rsplit(".", 1)[-1] for p in _CHOICE_PATHS)
_STRING_FUNCS = {"lower": "lower", "upper": "upper", "trim": "trim"}


class NotCompilable(Exception):
    """The expression (or view) uses something the SQL compiler does not translate."""


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


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


#: Backbone elements: the model lists their children (``Encounter.location.period``), not them.
_BACKBONES = frozenset(p.rsplit(".", 1)[0] for p in _PATH_TYPES if p.count(".") >= 2)


def compile_path(path: ParsedPath, scope: Scope) -> Expr:
    return _Compiler(scope).expr(path.root, scope.this)


def _member_type(tpath: str | None, name: str) -> tuple[bool, str | None]:
    """(is a choice element, type path of the member) from the R4 model; unknown is None."""
    if tpath is None:
        return name in _CHOICE_NAMES, None
    base: str | None = tpath
    while base is not None:
        cand = f"{base}.{name}"
        if cand in _CHOICE_PATHS:
            return True, None
        if cand in _PATH_TYPES or cand in _ELSEWHERE:
            found = _PATH_TYPES.get(cand) or _ELSEWHERE.get(cand) or cand
            return False, str(found)
        if cand in _BACKBONES:  # a backbone element (Encounter.location): not a choice
            return False, cand
        base = _PARENTS.get(base) if "." not in base else None
    return name in _CHOICE_NAMES, None


class _Compiler:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def expr(self, node: Node, focus: Expr) -> Expr:
        kind = node["type"]
        children: list[Node] = node.get("children", [])
        op = (node.get("terminalNodeText") or [None])[0]
        if kind in ("TermExpression", "InvocationTerm", "EntireExpression"):
            return self.expr(children[0], focus)
        if kind == "ParenthesizedTerm":
            return self.expr(children[0], self.scope.this)
        if kind == "InvocationExpression":
            base = self.expr(children[0], focus)
            return self.invoke(children[1], base, children[0])
        if kind in ("MemberInvocation", "FunctionInvocation", "ThisInvocation"):
            return self.invoke(node, focus, None)
        if kind == "LiteralTerm":
            return self.literal(children[0])
        if kind == "ExternalConstantTerm":
            return self.constant(children[0])
        if kind == "IndexerExpression":
            base = self.expr(children[0], focus)
            idx = self.expr(children[1], self.scope.this)
            i = f"CAST(ct_num({idx.coll()}) AS BIGINT) + 1"
            return Expr(f"list_slice({base.coll()}, {i}, {i})", "coll", base.type)
        if kind in ("AndExpression", "OrExpression", "XorExpression", "ImpliesExpression"):
            a, b = (self.expr(c, self.scope.this).bool() for c in children)
            sql = {
                "and": f"({a} AND {b})",
                "or": f"({a} OR {b})",
                "xor": f"({a} <> {b})",
                "implies": f"(NOT {a} OR {b})",
            }.get(str(op))
            if sql is None:
                raise NotCompilable(f"operator {op}")
            return Expr(sql, "bool")
        if kind == "EqualityExpression" and op in ("=", "!="):
            a, b = (self.expr(c, self.scope.this).coll() for c in children)
            eq = f"ct_eq({a}, {b})"
            return Expr(eq if op == "=" else f"(NOT {eq})", "bool")
        if kind == "InequalityExpression" and op in ("<", ">", "<=", ">="):
            a, b = (self.expr(c, self.scope.this).coll() for c in children)
            return Expr(f"(ct_cmp({a}, {b}) {op} 0)", "bool")
        if kind in ("AdditiveExpression", "MultiplicativeExpression") and op in "+-*/&":
            return self.arithmetic(str(op), children)
        raise NotCompilable(f"{kind} {op or ''}".strip())

    def arithmetic(self, op: str, children: list[Node]) -> Expr:
        a, b = (self.expr(c, self.scope.this).coll() for c in children)
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
        kind = node["type"]
        text = str(node.get("text") or "".join(node.get("terminalNodeText", [])))
        if kind == "StringLiteral":
            value = text[1:-1].replace("\\'", "'").replace('\\"', '"').replace("\\\\", "\\")
            return Expr(f"[{json_literal(value)}]", "coll", "string")
        if kind == "NumberLiteral":
            number: Any = int(text) if text.isdigit() else float(text)
            return Expr(f"[{json_literal(number)}]", "coll")
        if kind == "BooleanLiteral":
            return Expr("true" if text == "true" else "false", "bool")
        if kind == "NullLiteral":
            return Expr("[]::JSON[]", "coll")
        raise NotCompilable(f"literal {kind}")

    def constant(self, node: Node) -> Expr:
        name = identifier(node["children"][0]).strip("'")
        if name == "rowIndex":
            return Expr(f"[to_json({self.scope.row_index_sql})]", "coll")
        if name in ("resource", "rootResource"):
            return Expr(f"ct_one({self.scope.resource_sql})", "coll", self.scope.resource_type)
        if name in self.scope.constants:
            value = self.scope.constants[name]
            return Expr(f"ct_items({json_literal(value)})", "coll")
        raise NotCompilable(f"%{name}")

    def invoke(self, node: Node, base: Expr, base_node: Node | None) -> Expr:
        kind = node["type"]
        if kind == "ThisInvocation":
            return base
        if kind == "MemberInvocation":
            name = identifier(node["children"][0])
            if base is self.scope.this and name == self.scope.resource_type == base.type:
                return base  # `Patient.name`: a type name as the first step
            choice, tpath = _member_type(base.type, name)
            if choice:
                return Expr(f"ct_choice({base.coll()}, {sql_str(name)})", "coll", None)
            return self.scope.nav(base, name, tpath)
        if kind != "FunctionInvocation":
            raise NotCompilable(kind)
        fn = node["children"][0]
        name = identifier(fn["children"][0])
        params: list[Node] = fn["children"][1]["children"] if len(fn["children"]) > 1 else []
        return self.function(name, params, base, base_node)

    def function(self, name: str, params: list[Node], base: Expr, base_node: Node | None) -> Expr:
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
        if name == "ofType" and nparams == 1:
            return self.of_type(params[0], base, base_node)
        if name == "getResourceKey" and not nparams:
            return self.scope.nav(base, "id", "id")
        if name == "getReferenceKey" and nparams <= 1:
            want = sql_str(self.type_name(params[0])) if params else "NULL"
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

    def of_type(self, param: Node, base: Expr, base_node: Node | None) -> Expr:
        tname = self.type_name(param)
        member = _last_member(base_node)
        if member is None:
            raise NotCompilable("ofType() not directly after an element name")
        parent, name = member
        parent_expr = self.scope.this if parent is None else self.expr(parent, self.scope.this)
        choice, _ = _member_type(parent_expr.type, name)
        if not choice:
            raise NotCompilable(f"ofType() on {name!r}, which is not a choice element")
        return self.scope.nav(parent_expr, f"{name}{tname[0].upper()}{tname[1:]}", tname)

    def type_name(self, node: Node) -> str:
        text = node.get("text")
        if isinstance(text, str) and text.replace(".", "").isalnum():
            return text.split(".")[-1]
        raise NotCompilable("type specifier")


def _last_member(node: Node | None) -> tuple[Node | None, str] | None:
    """For ``a.b.value`` the (``a.b`` node, ``"value"``); for a bare ``value`` (None, name)."""
    if node is None:
        return None
    kind = node["type"]
    children = node.get("children", [])
    if kind in ("TermExpression", "InvocationTerm") and children:
        inner = children[0]
        if inner["type"] == "MemberInvocation":
            return None, identifier(inner["children"][0])
        return _last_member(inner) if inner["type"] == "InvocationTerm" else None
    if kind == "InvocationExpression" and children[1]["type"] == "MemberInvocation":
        return children[0], identifier(children[1]["children"][0])
    return None
