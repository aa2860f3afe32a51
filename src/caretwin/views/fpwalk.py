"""The FHIRPath AST walk shared by the SQL compiler and the native (Python) engine.

:class:`PathWalker` dispatches the nodes of ``fhirpathpy``'s AST (:mod:`caretwin.views.paths`)
and resolves what both back ends must resolve the same way: element types from the R4 model
fhirpathpy ships (``path2Type``/``choiceTypePaths``), so that a choice element is recognized and
``value.ofType(Quantity)`` reads ``valueQuantity``; a resource type name as the first step
(``Patient.name``); type specifiers. A back end (:mod:`caretwin.views.fpsql`,
:mod:`caretwin.views.pypath`) says what each kind of node becomes; anything it does not
translate raises :class:`NotCompilable`.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from caretwin.views.fhirpath import MODEL
from caretwin.views.paths import Node, identifier

_CHOICE_PATHS: dict[str, Any] = MODEL["choiceTypePaths"]
_PATH_TYPES: dict[str, Any] = MODEL["path2Type"]
_ELSEWHERE: dict[str, Any] = MODEL["pathsDefinedElsewhere"]
_PARENTS: dict[str, Any] = MODEL["type2Parent"]
_CHOICE_NAMES = frozenset(p.rsplit(".", 1)[-1] for p in _CHOICE_PATHS)
#: Backbone elements: the model lists their children (``Encounter.location.period``), not them.
_BACKBONES = frozenset(p.rsplit(".", 1)[0] for p in _PATH_TYPES if p.count(".") >= 2)


class NotCompilable(Exception):
    """The expression (or view) uses something the compilers do not translate."""


class Typed(Protocol):
    @property
    def type(self) -> str | None: ...


E = TypeVar("E", bound=Typed)


def member_type(tpath: str | None, name: str) -> tuple[bool, str | None]:
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


def last_member(node: Node | None) -> tuple[Node | None, str] | None:
    """For ``a.b.value`` the (``a.b`` node, ``"value"``); for a bare ``value`` (None, name)."""
    if node is None:
        return None
    kind = node["type"]
    children = node.get("children", [])
    if kind in ("TermExpression", "InvocationTerm") and children:
        inner = children[0]
        if inner["type"] == "MemberInvocation":
            return None, identifier(inner["children"][0])
        return last_member(inner) if inner["type"] == "InvocationTerm" else None
    if kind == "InvocationExpression" and children[1]["type"] == "MemberInvocation":
        return children[0], identifier(children[1]["children"][0])
    return None


def type_name(node: Node) -> str:
    """The type a ``TypeSpecifier`` names (``Quantity``, ``FHIR.Quantity`` -> ``Quantity``)."""
    text = node.get("text")
    if isinstance(text, str) and text.replace(".", "").isalnum():
        return text.split(".")[-1]
    raise NotCompilable("type specifier")


def literal_value(node: Node) -> tuple[str, Any]:
    """(kind, Python value) of a literal: ``string``, ``number`` (int or float), ``boolean``,
    or ``null`` (value None)."""
    kind = node["type"]
    text = str(node.get("text") or "".join(node.get("terminalNodeText", [])))
    if kind == "StringLiteral":
        value = text[1:-1].replace("\\'", "'").replace('\\"', '"').replace("\\\\", "\\")
        return "string", value
    if kind == "NumberLiteral":
        return "number", int(text) if text.isdigit() else float(text)
    if kind == "BooleanLiteral":
        return "boolean", text == "true"
    if kind == "NullLiteral":
        return "null", None
    raise NotCompilable(f"literal {kind}")


def function_call(node: Node) -> tuple[str, list[Node]]:
    """(name, parameter nodes) of a ``FunctionInvocation``."""
    fn = node["children"][0]
    params: list[Node] = fn["children"][1]["children"] if len(fn["children"]) > 1 else []
    return identifier(fn["children"][0]), params


class PathWalker(Generic[E]):
    """Compiles an expression node by node into ``E`` (see the module doc)."""

    def __init__(self, this: E, resource_type: str) -> None:
        self.this = this
        self.resource_type = resource_type

    def expr(self, node: Node, focus: E) -> E:
        kind = node["type"]
        children: list[Node] = node.get("children", [])
        op = str((node.get("terminalNodeText") or [""])[0])
        if kind in ("TermExpression", "InvocationTerm", "EntireExpression"):
            return self.expr(children[0], focus)
        if kind == "ParenthesizedTerm":
            return self.expr(children[0], self.this)
        if kind == "InvocationExpression":
            return self.invoke(children[1], self.expr(children[0], focus), children[0])
        if kind in ("MemberInvocation", "FunctionInvocation", "ThisInvocation"):
            return self.invoke(node, focus, None)
        if kind == "LiteralTerm":
            return self.literal(children[0])
        if kind == "ExternalConstantTerm":
            return self.constant(identifier(children[0]["children"][0]).strip("'"))
        if kind == "IndexerExpression":
            return self.indexer(self.expr(children[0], focus), self.expr(children[1], self.this))
        if kind in ("AndExpression", "OrExpression", "XorExpression", "ImpliesExpression"):
            return self.logic(op, *(self.expr(c, self.this) for c in children))
        if kind == "EqualityExpression" and op in ("=", "!="):
            return self.equality(op, *(self.expr(c, self.this) for c in children))
        if kind == "InequalityExpression" and op in ("<", ">", "<=", ">="):
            return self.inequality(op, *(self.expr(c, self.this) for c in children))
        if kind in ("AdditiveExpression", "MultiplicativeExpression") and op and op in "+-*/&":
            return self.arithmetic(op, *(self.expr(c, self.this) for c in children))
        raise NotCompilable(f"{kind} {op}".strip())

    def invoke(self, node: Node, base: E, base_node: Node | None) -> E:
        kind = node["type"]
        if kind == "ThisInvocation":
            return base
        if kind == "MemberInvocation":
            name = identifier(node["children"][0])
            if base is self.this and name == self.resource_type == base.type:
                return base  # `Patient.name`: a type name as the first step
            choice, tpath = member_type(base.type, name)
            return self.choice(base, name) if choice else self.nav(base, name, tpath)
        if kind != "FunctionInvocation":
            raise NotCompilable(kind)
        name, params = function_call(node)
        if name == "ofType" and len(params) == 1:
            return self.of_type(params[0], base_node)
        return self.function(name, params, base)

    def of_type(self, param: Node, base_node: Node | None) -> E:
        """``x.ofType(T)`` on a choice element ``x``: the member ``x<T>`` of ``x``'s parent."""
        tname = type_name(param)
        member = last_member(base_node)
        if member is None:
            raise NotCompilable("ofType() not directly after an element name")
        parent, name = member
        parent_expr = self.this if parent is None else self.expr(parent, self.this)
        choice, _ = member_type(parent_expr.type, name)
        if not choice:
            raise NotCompilable(f"ofType() on {name!r}, which is not a choice element")
        return self.nav(parent_expr, f"{name}{tname[0].upper()}{tname[1:]}", tname)

    # -- what a back end defines -------------------------------------------------------------

    def nav(self, base: E, key: str, tpath: str | None) -> E:
        raise NotImplementedError

    def choice(self, base: E, name: str) -> E:
        raise NotImplementedError

    def function(self, name: str, params: list[Node], base: E) -> E:
        raise NotImplementedError

    def literal(self, node: Node) -> E:
        raise NotImplementedError

    def constant(self, name: str) -> E:
        raise NotImplementedError

    def indexer(self, base: E, index: E) -> E:
        raise NotImplementedError

    def logic(self, op: str, a: E, b: E) -> E:
        raise NotImplementedError

    def equality(self, op: str, a: E, b: E) -> E:
        raise NotImplementedError

    def inequality(self, op: str, a: E, b: E) -> E:
        raise NotImplementedError

    def arithmetic(self, op: str, a: E, b: E) -> E:
        raise NotImplementedError


__all__ = [
    "NotCompilable", "PathWalker", "function_call", "last_member", "literal_value", "member_type",
    "type_name",
]  # fmt: skip
