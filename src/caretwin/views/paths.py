"""FHIRPath expressions parsed once, shared by the SQL compiler and the interpreter.

The parser is ``fhirpathpy``'s (ANTLR grammar of FHIRPath N1); its AST is a tree of dicts with
``type``, ``text``, ``terminalNodeText`` and ``children``. :func:`parse_path` keeps the AST and
the names of the ``%constants`` it uses so validation can name undefined ones before running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhirpathpy.parser import parse

Node = dict[str, Any]


@dataclass(frozen=True)
class ParsedPath:
    text: str
    ast: Node = field(compare=False, repr=False)
    constants: frozenset[str] = frozenset()

    @property
    def root(self) -> Node:
        """The expression node (the parser wraps it in an ``EntireExpression``)."""
        node: Node = self.ast["children"][0]
        return node


def parse_path(text: str) -> ParsedPath:
    """Parse ``text``; ValueError with the parser's message when it is not FHIRPath."""
    try:
        ast: Node = parse(text)
    except Exception as exc:  # antlr raises its own hierarchy; one message is what we need
        raise ValueError(str(exc) or exc.__class__.__name__) from None
    if not ast.get("children"):
        raise ValueError("empty expression")
    return ParsedPath(text, ast, frozenset(_constants(ast)))


def _constants(node: Node) -> set[str]:
    found: set[str] = set()
    if node.get("type") == "ExternalConstant":
        ident = node["children"][0]
        name = ident.get("text") or "".join(ident.get("terminalNodeText", []))
        found.add(name.strip("`'"))
    for child in node.get("children", []):
        found |= _constants(child)
    return found


def identifier(node: Node) -> str:
    """The text of an ``Identifier`` node (delimited identifiers without their backticks)."""
    text = node.get("text") or "".join(node.get("terminalNodeText", []))
    return str(text).strip("`")
