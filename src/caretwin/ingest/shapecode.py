"""The checks of :mod:`caretwin.ingest.shapes` as one generated Python function per type.

Checking runs on every resource an ingest reads, and a closure per element (a call for each
object, list and leaf) cost as much as the record checks themselves; so, as the native views do
(:mod:`caretwin.views.pygen`), the tree of read elements is written out as one function of
nested ``dict.get`` calls and type tests, with the FHIR path of an error built only when one is
raised. Only element names matching :data:`_NAME` reach the source (as ``repr`` literals); a
site view reading anything else leaves that element unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from caretwin.fhir.dates import DateFormatError, parse_date, parse_datetime
from caretwin.ingest.records import InvalidRecord

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class Node(Protocol):
    """What the generator reads of :class:`caretwin.ingest.shapes._Node`."""

    kind: str | None
    type_name: str
    repeats: bool | None
    codes: frozenset[str] | None
    children: dict[str, Any]


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _expect(node: Node) -> str:
    if node.kind == "object":
        return f"an object ({node.type_name})"
    if node.kind in ("integer", "decimal"):
        return f"a number ({node.type_name})"
    return f"a {'boolean' if node.kind == 'boolean' else 'string'} ({node.type_name})"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "InvalidRecord": InvalidRecord,
            "DateFormatError": DateFormatError,
            "parse_datetime": parse_datetime,
            "parse_date": parse_date,
            "kind": json_kind,
        }
        self.n = 0

    def var(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value: Any) -> str:
        name = self.var("C")
        self.env[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def fail(self, depth: int, path: list[str], message: str, tail: str = "") -> None:
        """``raise InvalidRecord(<path> <message>[ + tail expression])``."""
        text = "".join(p if p.startswith("{") else p.replace("{", "{{").replace("}", "}}")
                       for p in path)  # fmt: skip
        literal = "f" + repr(text + message.replace("{", "{{").replace("}", "}}"))
        self.emit(depth, f"raise InvalidRecord({literal}{' + ' + tail if tail else ''})")

    def members(self, obj: str, tree: dict[str, Node], path: list[str], depth: int) -> None:
        for key, node in tree.items():
            if not _NAME.fullmatch(key) or node.kind is None:
                continue  # an element of no known type: nothing to check it against
            v = self.var("v")
            here = [*path, "." + key]
            self.emit(depth, f"{v} = {obj}.get({key!r})")
            self.emit(depth, f"if {v} is not None:")
            if node.repeats is None:  # cardinality unknown: a list's items, or the value
                v1 = self.var("v")
                self.emit(depth + 1, f"for {v1} in ({v} if type({v}) is list else [{v}]):")
                self.emit(depth + 2, f"if {v1} is not None:")
                before = len(self.lines)
                self.item(v1, node, here, depth + 3)
                if len(self.lines) == before:
                    self.emit(depth + 3, "pass")
            elif node.repeats:
                self.emit(depth + 1, f"if type({v}) is not list:")
                self.fail(depth + 2, here, f" must be a list ({node.type_name} repeats), not ",
                          f"kind({v})")  # fmt: skip
                i, e = self.var("i"), self.var("e")
                self.emit(depth + 1, f"for {i}, {e} in enumerate({v}):")
                self.emit(depth + 2, f"if {e} is not None:")
                before = len(self.lines)
                self.item(e, node, [*here, "[", "{" + i + "}", "]"], depth + 3)
                if len(self.lines) == before:
                    self.emit(depth + 3, "pass")
            else:
                self.emit(depth + 1, f"if type({v}) is list:")
                self.fail(depth + 2, here, " must be a single value, not a list")
                before = len(self.lines)
                self.item(v, node, here, depth + 1)
                if len(self.lines) == before:
                    self.emit(depth + 1, "pass")

    def item(self, v: str, node: Node, path: list[str], depth: int) -> None:
        kind = node.kind
        wrong = f" must be {_expect(node)}, not "
        if kind == "object":
            self.emit(depth, f"if type({v}) is not dict:")
            self.fail(depth + 1, path, wrong, f"kind({v})")
            self.members(v, node.children, path, depth)
        elif kind in ("text", "dateTime", "date"):
            self.emit(depth, f"if type({v}) is not str:")
            self.fail(depth + 1, path, wrong, f"kind({v})")
            if kind != "text":
                parse = "parse_datetime" if kind == "dateTime" else "parse_date"
                x = self.var("x")
                self.emit(depth, "try:")
                self.emit(depth + 1, f"{parse}({v})")
                self.emit(depth, f"except DateFormatError as {x}:")
                self.fail(depth + 1, path, ": ", f"str({x})")
            elif node.codes is not None:
                self.emit(depth, f"if {v} not in {self.const(node.codes)}:")
                self.fail(depth + 1, path, " is not a code of its required R4 value set")
        elif kind == "boolean":
            self.emit(depth, f"if type({v}) is not bool:")
            self.fail(depth + 1, path, wrong, f"kind({v})")
        elif kind == "integer":
            self.emit(depth, f"if type({v}) is not int:")
            self.fail(depth + 1, path, wrong, f"('a decimal' if type({v}) is float else kind({v}))")
        elif kind == "decimal":
            self.emit(depth, f"if type({v}) is not int and type({v}) is not float:")
            self.fail(depth + 1, path, wrong, f"kind({v})")


def generate(rtype: str, tree: dict[str, Node]) -> Callable[[dict[str, Any]], None]:
    """The check of one resource type's read elements (raises :class:`InvalidRecord`)."""
    out = _Writer()
    out.emit(0, "def check(r):")
    out.members("r", tree, [rtype], 1)
    out.emit(1, "return None")
    source = "\n".join(out.lines)
    exec(compile(source, f"<caretwin checks of {rtype}>", "exec"), out.env)
    check: Callable[[dict[str, Any]], None] = out.env["check"]
    return check


__all__ = ["generate", "json_kind"]
