"""Generated Python for the columns of one select: the native engine's fast path.

Most columns of real views are a chain of steps from the current element: member names,
``first()``/``last()``, ``getResourceKey()``, ``getReferenceKey([type])`` (``period.start``,
``subject.getReferenceKey()``, ``code.coding.first().code``). Calling one closure per step and
per column is most of the native engine's cost, so for each select this module writes one
Python function computing all of its columns, each chain inlined as ``dict.get`` calls. A
column outside the pattern (``iif``, ``where``, choice elements, ...) calls its closure from
:mod:`caretwin.views.pypath`, which also takes over when the data is unusual (a nested JSON
array), so the result is always the closure's.

While walking a chain a value is: ``None`` (the empty collection), a list of two or more items
(a collection, nulls dropped), :data:`GENERIC` (hand over to the closure), or the single item.
Only identifiers from the view reach the generated source, as ``repr`` string literals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from caretwin.views.fhirpath import reference_key
from caretwin.views.fpwalk import NotCompilable, function_call, member_type, type_name
from caretwin.views.paths import Node, ParsedPath, identifier
from caretwin.views.pyvalues import ViewRowError, nav

Op = tuple[str, str | None]  # ("nav", key) | ("first", None) | ("last", None) | ("ref", type)


class _Generic:
    """The marker for "take the closure" (a chain met data the inline code does not handle)."""

    def __repr__(self) -> str:
        return "GENERIC"


GENERIC: Any = _Generic()


def norm(values: list[Any]) -> Any:
    """A JSON array met on the way, as a chain value (see the module doc)."""
    items = [e for e in values if e is not None]
    if not items:
        return None
    for e in items:
        if type(e) is list:
            return GENERIC
    return items[0] if len(items) == 1 else items


def step(x: Any, key: str) -> Any:
    """``nav`` from a value that is not one object."""
    if type(x) is list:
        return norm(nav(x, key))
    return GENERIC if x is GENERIC else None


def ref(x: Any, want: str | None) -> Any:
    if type(x) is dict:
        return reference_key(x, want)
    if type(x) is list:
        return norm([reference_key(o, want) for o in x if type(o) is dict])
    return GENERIC if x is GENERIC else None


def chain_ops(path: ParsedPath, this_type: str | None, resource_type: str) -> list[Op] | None:
    """The steps of ``path`` when it is a chain (mirroring pypath's typing), else None."""
    ops: list[Op] = []
    cur: str | None = this_type
    at_start = True

    def walk(node: Node) -> bool:
        nonlocal cur, at_start
        kind = node["type"]
        children: list[Node] = node.get("children", [])
        if kind in ("TermExpression", "InvocationTerm"):
            return walk(children[0])
        if kind == "InvocationExpression":
            return walk(children[0]) and walk(children[1])
        if kind == "ThisInvocation":
            return True
        first, at_start = at_start, False
        if kind == "MemberInvocation":
            name = identifier(children[0])
            if first and name == resource_type == cur:
                return True  # `Patient.name`: a type name as the first step
            is_choice, tpath = member_type(cur, name)
            if is_choice:
                return False
            ops.append(("nav", name))
            cur = tpath
            return True
        if kind != "FunctionInvocation":
            return False
        name, params = function_call(node)
        if name in ("first", "last") and not params:
            ops.append((name, None))
            return True
        if name == "getResourceKey" and not params:
            ops.append(("nav", "id"))
            cur = "id"
            return True
        if name == "getReferenceKey" and len(params) <= 1:
            want = type_name(params[0]) if params else None
            ops.append(("ref", want))
            cur = "string"
            return True
        return False

    try:
        return ops if walk(path.root) else None
    except NotCompilable:  # e.g. a type specifier the closures would have refused first
        return None


def chain_code(ops: list[Op], out: str) -> list[str]:
    """Source lines leaving the chain value of ``ops`` from ``elem`` in variable ``out``."""
    lines = [f"{out} = elem"]
    for op, arg in ops:
        if op == "nav":
            lines += [
                f"{out} = {out}.get({arg!r}) if type({out}) is dict else step({out}, {arg!r})",
                f"if type({out}) is list: {out} = norm({out})",
            ]
        elif op == "first":
            lines.append(f"if type({out}) is list: {out} = {out}[0]")
        elif op == "last":
            lines.append(f"if type({out}) is list: {out} = {out}[-1]")
        else:
            lines.append(f"{out} = ref({out}, {arg!r})")
    return lines


def build_select(
    columns: list[tuple[list[Op] | None, Callable[..., Any], Callable[[Any], Any], bool, str]],
) -> Callable[[Any, Any], tuple[Any, ...]]:
    """One function ``(elem, ctx) -> row`` for columns given as (chain ops or None, closure,
    conversion, is text, several-values message)."""
    env: dict[str, Any] = {"step": step, "norm": norm, "ref": ref, "GENERIC": GENERIC}
    body: list[str] = []
    names = []
    for i, (ops, closure, convert, is_text, msg) in enumerate(columns):
        v = f"v{i}"
        names.append(v)
        env[f"f{i}"], env[f"conv{i}"], env[f"msg{i}"] = closure, convert, msg
        if ops is None:
            body.append(f"{v} = f{i}(c)")
            continue
        body += chain_code(ops, v)
        body += [
            f"if {v} is GENERIC: {v} = f{i}(c)",
            f"elif type({v}) is list: raise ViewRowError(msg{i})",
            f"elif {v} is not None"
            + (f" and type({v}) is not str" if is_text else "")
            + f": {v} = conv{i}({v})",
        ]
    source = "def select_row(elem, c):\n"
    source += "".join(f"    {line}\n" for line in body)
    source += f"    return ({', '.join(names)}{',' if len(names) == 1 else ''})\n"
    env["ViewRowError"] = ViewRowError
    exec(compile(source, "<caretwin view select>", "exec"), env)
    fn: Callable[[Any, Any], tuple[Any, ...]] = env["select_row"]
    return fn


__all__ = ["GENERIC", "build_select", "chain_ops"]
