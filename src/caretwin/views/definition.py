"""ViewDefinitions (SQL on FHIR v2): structural validation into a small typed tree.

:func:`parse_view` turns the JSON of a ViewDefinition into :class:`View`, or raises
:class:`~caretwin.errors.DefinitionError` listing every problem with its JSON path (e.g.
``select[0].column[1].name: required``). Validation covers what can be decided before any
data is seen: the shape of every element, FHIRPath syntax (parsed with ``fhirpathpy``),
constants (exactly one ``value[x]``; every ``%name`` used is defined), unique column names, and
``unionAll`` branches with the same columns in the same order. What depends on the data
(a ``where`` yielding a non-boolean, a non-collection column yielding several values) is
checked by the engines while running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from caretwin.errors import DefinitionError
from caretwin.views.paths import ParsedPath, parse_path

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
#: Environment variables FHIRPath and SQL on FHIR define without a ``constant``.
BUILTIN_VARS = frozenset({"rowIndex", "resource", "rootResource", "context", "ucum", "sct"})
_SELECT_KEYS = {"column", "select", "forEach", "forEachOrNull", "repeat", "unionAll"}

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class Column:
    name: str
    path: ParsedPath
    collection: bool = False
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Select:
    """One ``select`` element. At most one of ``for_each``/``for_each_or_null``/``repeat``."""

    columns: tuple[Column, ...] = ()
    selects: tuple[Select, ...] = ()
    union_all: tuple[Select, ...] = ()
    for_each: ParsedPath | None = None
    for_each_or_null: ParsedPath | None = None
    repeat: tuple[ParsedPath, ...] = ()

    def column_names(self) -> list[str]:
        """The output columns in spec order: own columns, nested selects, then unionAll."""
        names = [c.name for c in self.columns]
        for sub in self.selects:
            names += sub.column_names()
        if self.union_all:
            names += self.union_all[0].column_names()
        return names

    def all_columns(self) -> list[Column]:
        cols = list(self.columns)
        for sub in self.selects:
            cols += sub.all_columns()
        if self.union_all:
            cols += self.union_all[0].all_columns()
        return cols


@dataclass(frozen=True)
class View:
    resource: str
    select: tuple[Select, ...]
    name: str | None = None
    title: str | None = None
    description: str | None = None
    constants: dict[str, Any] = field(default_factory=dict)
    where: tuple[ParsedPath, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def column_names(self) -> list[str]:
        return [n for s in self.select for n in s.column_names()]

    def columns(self) -> list[Column]:
        return [c for s in self.select for c in s.all_columns()]


def parse_view(data: Any, source: str = "ViewDefinition") -> View:
    """Validate ``data`` and return the view; raise DefinitionError naming every problem."""
    problems: Problems = []
    view = _View(problems).build(data)
    if problems or view is None:
        raise DefinitionError(f"invalid ViewDefinition ({source})", problems=problems)
    return view


class _View:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.constant_names: set[str] = set()

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path or "<root>", message))

    def build(self, data: Any) -> View | None:
        if not isinstance(data, dict):
            self.fail("", "a ViewDefinition must be a JSON object")
            return None
        rtype = data.get("resourceType", "ViewDefinition")
        if rtype != "ViewDefinition":
            self.fail("resourceType", f"must be 'ViewDefinition', not {rtype!r}")
        resource = data.get("resource")
        if not isinstance(resource, str) or not _NAME.fullmatch(resource):
            self.fail("resource", "required: the FHIR resource type the view reads")
        constants = self.constants(data.get("constant", []))
        where = self.where(data.get("where", []))
        selects = data.get("select")
        if not isinstance(selects, list) or not selects:
            self.fail("select", "required: a non-empty list of select elements")
            selects = []
        built = tuple(self.select(s, f"select[{i}]") for i, s in enumerate(selects))
        names: dict[str, int] = {}
        for sel in built:
            for name in sel.column_names():
                names[name] = names.get(name, 0) + 1
        for name, n in names.items():
            if n > 1:
                self.fail("select", f"column name {name!r} is used {n} times")
        for key in ("name", "title", "description"):
            if key in data and not isinstance(data[key], str):
                self.fail(key, "must be a string")
        if self.problems:
            return None
        return View(
            resource=str(resource),
            select=built,
            name=data.get("name"),
            title=data.get("title"),
            description=data.get("description"),
            constants=constants,
            where=where,
            raw=data,
        )

    def constants(self, items: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not isinstance(items, list):
            self.fail("constant", "must be a list")
            return out
        for i, item in enumerate(items):
            path = f"constant[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                self.fail(f"{path}.name", "required")
                continue
            values = [k for k in item if k.startswith("value")]
            if len(values) != 1:
                self.fail(path, f"needs exactly one value[x], found {len(values)}")
                continue
            if not _NAME.fullmatch(item["name"]):
                self.fail(f"{path}.name", "must match [A-Za-z][A-Za-z0-9_]*")
            out[item["name"]] = item[values[0]]
        self.constant_names = set(out)
        return out

    def where(self, items: Any) -> tuple[ParsedPath, ...]:
        if not isinstance(items, list):
            self.fail("where", "must be a list")
            return ()
        found = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.fail(f"where[{i}]", "must be an object with a path")
                continue
            parsed = self.path(item.get("path"), f"where[{i}].path")
            if parsed is not None:
                found.append(parsed)
        return tuple(found)

    def path(self, text: Any, where: str) -> ParsedPath | None:
        if not isinstance(text, str) or not text.strip():
            self.fail(where, "required: a FHIRPath expression (string)")
            return None
        try:
            parsed = parse_path(text)
        except ValueError as exc:
            self.fail(where, f"invalid FHIRPath {text!r}: {exc}")
            return None
        for name in sorted(parsed.constants - self.constant_names - BUILTIN_VARS):
            self.fail(where, f"%{name} is not defined (add it to 'constant')")
        return parsed

    def select(self, data: Any, path: str) -> Select:
        if not isinstance(data, dict):
            self.fail(path, "a select element must be an object")
            return Select()
        for key in sorted(set(data) - _SELECT_KEYS - {"description"}):
            self.fail(f"{path}.{key}", "unknown select element key")
        iterators = [k for k in ("forEach", "forEachOrNull", "repeat") if k in data]
        if len(iterators) > 1:
            self.fail(path, f"only one of forEach, forEachOrNull, repeat allowed ({iterators})")
        for_each = self.path(data["forEach"], f"{path}.forEach") if "forEach" in data else None
        fen = data.get("forEachOrNull")
        for_each_or_null = self.path(fen, f"{path}.forEachOrNull") if fen is not None else None
        repeat: list[ParsedPath] = []
        if "repeat" in data:
            items = data["repeat"]
            if not isinstance(items, list) or not items:
                self.fail(f"{path}.repeat", "must be a non-empty list of FHIRPath expressions")
            else:
                for i, text in enumerate(items):
                    parsed = self.path(text, f"{path}.repeat[{i}]")
                    if parsed is not None:
                        repeat.append(parsed)
        columns = self.columns(data.get("column", []), f"{path}.column")
        subs = self.sub_list(data, "select", path)
        unions = self.sub_list(data, "unionAll", path)
        if unions:
            first = unions[0].column_names()
            for i, branch in enumerate(unions[1:], start=1):
                if branch.column_names() != first:
                    self.fail(
                        f"{path}.unionAll[{i}]",
                        f"columns {branch.column_names()} differ from unionAll[0]'s {first}",
                    )
        return Select(
            columns=tuple(columns),
            selects=tuple(subs),
            union_all=tuple(unions),
            for_each=for_each,
            for_each_or_null=for_each_or_null,
            repeat=tuple(repeat),
        )

    def sub_list(self, data: dict[str, Any], key: str, path: str) -> list[Select]:
        items = data.get(key, [])
        if not isinstance(items, list):
            self.fail(f"{path}.{key}", "must be a list of select elements")
            return []
        return [self.select(s, f"{path}.{key}[{i}]") for i, s in enumerate(items)]

    def columns(self, items: Any, path: str) -> list[Column]:
        if not isinstance(items, list):
            self.fail(path, "must be a list of columns")
            return []
        out = []
        for i, col in enumerate(items):
            where = f"{path}[{i}]"
            if not isinstance(col, dict):
                self.fail(where, "a column must be an object")
                continue
            name = col.get("name")
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                self.fail(f"{where}.name", "required: a name matching [A-Za-z][A-Za-z0-9_]*")
                continue
            parsed = self.path(col.get("path"), f"{where}.path")
            collection = col.get("collection", False)
            if not isinstance(collection, bool):
                self.fail(f"{where}.collection", "must be true or false")
            ctype = col.get("type")
            if ctype is not None and not isinstance(ctype, str):
                self.fail(f"{where}.type", "must be a FHIR type name")
            if parsed is not None:
                out.append(Column(name, parsed, collection is True, ctype, col.get("description")))
        return out
