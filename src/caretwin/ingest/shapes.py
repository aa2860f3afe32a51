"""Type checks of the elements the canonical views read, derived from the views and FHIR R4.

A ViewDefinition maps and does not judge: given ``"subject": "Patient/1"`` (a string where R4
has a Reference) ``subject.getReferenceKey()`` yields nothing and the table gets a NULL; given
two subjects, the view fails and, before these checks, so did the whole ingest. So every
element a view of the ingest reads (its columns, ``forEach``, ``where`` and the criteria inside
its paths, walked with the views' own FHIRPath walker, :class:`~caretwin.views.fpwalk.PathWalker`)
is checked in the parse workers, before the record is accepted:

* its JSON shape from its R4 type (from the R4 model ``fhirpathpy`` ships: an object for a
  complex type or backbone element, a string, number or boolean for a primitive);
* its cardinality: a list exactly where R4 allows several (:data:`REPEATING`);
* ``date`` / ``dateTime`` / ``instant`` values are FHIR dates in range;
* a ``code`` with a **required** binding in R4 holds a code of that value set (the value sets
  shipped with the quality checks, :mod:`caretwin.quality.valuesets`, whose ``binding`` names the
  R4 element, e.g. ``required (FHIR R4 Patient.gender)``).

Elements the views do not read are not checked: they stay in the raw table as sent. Reasons
name the FHIR path, never the value (PHI).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from caretwin.ingest.dates import DateFormatError, parse_date, parse_datetime
from caretwin.ingest.records import InvalidRecord
from caretwin.views.definition import Select, View
from caretwin.views.fpwalk import PathWalker
from caretwin.views.paths import Node, ParsedPath

#: R4 elements with max cardinality ``*`` among the canonical tables' resource types and the
#: data types they use (``extension``, ``modifierExtension`` and ``contained`` repeat
#: everywhere). Generated from the R4 definitions and checked against ``fhir.resources``
#: in tests/test_ingest_shapes.py.
_REPEATING = """
    Address.line CodeableConcept.coding HumanName.given HumanName.prefix HumanName.suffix
    Meta.profile Meta.security Meta.tag Timing.event Timing.repeat.dayOfWeek
    Timing.repeat.timeOfDay Timing.repeat.when
    Device.contact Device.deviceName Device.identifier Device.note Device.property
    Device.property.valueCode Device.property.valueQuantity Device.safety Device.specialization
    Device.statusReason Device.udiCarrier Device.version
    Encounter.account Encounter.appointment Encounter.basedOn Encounter.classHistory
    Encounter.diagnosis Encounter.episodeOfCare Encounter.hospitalization.dietPreference
    Encounter.hospitalization.specialArrangement Encounter.hospitalization.specialCourtesy
    Encounter.identifier Encounter.location Encounter.participant Encounter.participant.type
    Encounter.reasonCode Encounter.reasonReference Encounter.statusHistory Encounter.type
    Location.alias Location.endpoint Location.hoursOfOperation
    Location.hoursOfOperation.daysOfWeek Location.identifier Location.telecom Location.type
    Observation.basedOn Observation.category Observation.component
    Observation.component.interpretation Observation.component.referenceRange
    Observation.component.referenceRange.appliesTo Observation.derivedFrom Observation.focus
    Observation.hasMember Observation.identifier Observation.interpretation Observation.note
    Observation.partOf Observation.performer Observation.referenceRange
    Observation.referenceRange.appliesTo
    Patient.address Patient.communication Patient.contact Patient.contact.relationship
    Patient.contact.telecom Patient.generalPractitioner Patient.identifier Patient.link
    Patient.name Patient.photo Patient.telecom
    Procedure.basedOn Procedure.bodySite Procedure.complication Procedure.complicationDetail
    Procedure.focalDevice Procedure.followUp Procedure.identifier
    Procedure.instantiatesCanonical Procedure.instantiatesUri Procedure.note Procedure.partOf
    Procedure.performer Procedure.reasonCode Procedure.reasonReference Procedure.report
    Procedure.usedCode Procedure.usedReference
    ServiceRequest.basedOn ServiceRequest.bodySite ServiceRequest.category
    ServiceRequest.identifier ServiceRequest.instantiatesCanonical
    ServiceRequest.instantiatesUri ServiceRequest.insurance ServiceRequest.locationCode
    ServiceRequest.locationReference ServiceRequest.note ServiceRequest.orderDetail
    ServiceRequest.performer ServiceRequest.reasonCode ServiceRequest.reasonReference
    ServiceRequest.relevantHistory ServiceRequest.replaces ServiceRequest.specimen
    ServiceRequest.supportingInfo
"""
REPEATING = frozenset(_REPEATING.split())
_EVERYWHERE = frozenset({"extension", "modifierExtension", "contained"})

_TEXT = frozenset(
    {"string", "code", "id", "uri", "url", "canonical", "markdown", "oid", "uuid",
     "base64Binary", "xhtml", "time"}
)  # fmt: skip
_INTEGER = frozenset({"integer", "positiveInt", "unsignedInt"})

#: A step of a read path: (JSON key, R4 definition path, R4 type of the element or None).
Step = tuple[str, str, str | None]
#: What a chunk carries: (resource type, the read paths of its views).
Reads = tuple[tuple[str, tuple[tuple[Step, ...], ...]], ...]


# -- which elements the views read ----------------------------------------------------------


@dataclass(frozen=True)
class _Focus:
    """Where an expression stands: a path of steps from the resource, or nowhere (None)."""

    steps: tuple[Step, ...] | None
    type: str | None

    def nav(self, key: str, tpath: str | None) -> _Focus:
        if self.steps is None or self.type is None:
            return _NOWHERE
        return _Focus((*self.steps, (key, f"{self.type}.{key}", tpath)), tpath)


_NOWHERE = _Focus(None, None)


class _Reads(PathWalker[_Focus]):
    """Walks an expression, collecting the element paths it reads (its value is a focus)."""

    def __init__(self, this: _Focus, resource_type: str, found: set[tuple[Step, ...]]) -> None:
        super().__init__(this, resource_type)
        self.found = found

    def nav(self, base: _Focus, key: str, tpath: str | None) -> _Focus:
        out = base.nav(key, tpath)
        if out.steps is not None:
            self.found.add(out.steps)
        return out

    def choice(self, base: _Focus, name: str) -> _Focus:
        return _NOWHERE  # a choice read without ofType(): no type to check it against

    def function(self, name: str, params: list[Node], base: _Focus) -> _Focus:
        if name in ("where", "exists", "all", "empty", "select") and params:
            _Reads(base, self.resource_type, self.found).expr(params[0], base)
            return base if name in ("where", "select") else _NOWHERE
        if name == "getReferenceKey":
            return self.nav(base, "reference", "string")
        if name == "getResourceKey":
            return self.nav(base, "id", "id")
        if name in ("first", "last", "single", "tail") and not params:
            return base
        for param in params:  # iif and the rest: arguments read relative to $this
            self.expr(param, self.this)
        return _NOWHERE

    def literal(self, node: Node) -> _Focus:
        return _NOWHERE

    def constant(self, name: str) -> _Focus:
        return _NOWHERE

    def indexer(self, base: _Focus, index: _Focus) -> _Focus:
        return base

    def logic(self, op: str, a: _Focus, b: _Focus) -> _Focus:
        return _NOWHERE

    def equality(self, op: str, a: _Focus, b: _Focus) -> _Focus:
        return _NOWHERE

    def inequality(self, op: str, a: _Focus, b: _Focus) -> _Focus:
        return _NOWHERE

    def arithmetic(self, op: str, a: _Focus, b: _Focus) -> _Focus:
        return _NOWHERE


def _walk(path: ParsedPath, focus: _Focus, rtype: str, found: set[tuple[Step, ...]]) -> _Focus:
    try:
        return _Reads(focus, rtype, found).expr(path.root, focus)
    except Exception:  # outside what the walker knows (NotCompilable and the like): no checks
        return _NOWHERE


def _select_reads(sel: Select, focus: _Focus, rtype: str, found: set[tuple[Step, ...]]) -> None:
    iterator = sel.for_each or sel.for_each_or_null
    if iterator is not None:
        focus = _walk(iterator, focus, rtype, found)
    for col in sel.columns:
        _walk(col.path, focus, rtype, found)
    for sub in (*sel.selects, *sel.union_all):
        _select_reads(sub, focus, rtype, found)


def view_reads(views: Iterable[View]) -> Reads:
    """The element paths the ``views`` read, per resource type (what a chunk carries)."""
    by_type: dict[str, set[tuple[Step, ...]]] = {}
    for view in views:
        found = by_type.setdefault(view.resource, set())
        root = _Focus((), view.resource)
        for where in view.where:
            _walk(where, root, view.resource, found)
        for sel in view.select:
            _select_reads(sel, root, view.resource, found)
    return tuple((t, tuple(sorted(p))) for t, p in sorted(by_type.items()))


# -- the checks -----------------------------------------------------------------------------


@cache
def required_bindings() -> Mapping[str, frozenset[str]]:
    """R4 element path -> the codes of its required value set (from the shipped value sets)."""
    from caretwin.quality.valuesets import load_value_set, value_set_ids

    out: dict[str, frozenset[str]] = {}
    for vs_id in value_set_ids():
        vs = load_value_set(vs_id)
        m = re.match(r"required \(FHIR R4 ([A-Za-z., ]+?)[,)]", vs.binding)
        if m is not None:
            for element in m.group(1).split(","):
                out[element.strip()] = frozenset(vs.codes)
    return out


@dataclass
class _Node:
    """An element to check and, under it, the elements read below it."""

    kind: str | None  # "object", "text", "dateTime", "date", "integer", "decimal", "boolean"
    type_name: str
    repeats: bool
    codes: frozenset[str] | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def _kind(tpath: str | None) -> str | None:
    if tpath is None:
        return None
    name = tpath.removeprefix("System.")
    if name in ("dateTime", "instant", "DateTime"):
        return "dateTime"
    if name in ("date", "Date"):
        return "date"
    if name in ("boolean", "Boolean"):
        return "boolean"
    if name in _INTEGER or name == "Integer":
        return "integer"
    if name in ("decimal", "Decimal"):
        return "decimal"
    if name in _TEXT or name == "String":
        return "text"
    return "object" if name[:1].isupper() else None


@lru_cache(maxsize=16)
def compile_reads(reads: Reads) -> dict[str, dict[str, _Node]]:
    """The check trees of ``reads`` per resource type (cached: workers get them per chunk)."""
    bindings = required_bindings()
    out: dict[str, dict[str, _Node]] = {}
    for rtype, paths in reads:
        root: dict[str, _Node] = out.setdefault(rtype, {})
        for path in paths:
            level = root
            for key, defpath, tpath in path:
                node = level.get(key)
                if node is None:
                    repeats = key in _EVERYWHERE or defpath in REPEATING
                    name = (tpath or "").removeprefix("System.")
                    codes = bindings.get(defpath) if name == "code" else None
                    node = level[key] = _Node(_kind(tpath), name, repeats, codes)
                level = node.children
    return out


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        self.where: list[str] = []


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _expect(node: _Node) -> str:
    if node.kind == "object":
        return f"an object ({node.type_name})"
    if node.kind in ("integer", "decimal"):
        return f"a number ({node.type_name})"
    return f"a {'boolean' if node.kind == 'boolean' else 'string'} ({node.type_name})"


def _item(value: Any, node: _Node) -> None:
    kind = node.kind
    if kind == "object":
        if type(value) is not dict:
            raise _Bad(f"must be {_expect(node)}, not {_json_kind(value)}")
        for key, child in node.children.items():
            sub = value.get(key)
            if sub is not None:
                try:
                    _element(sub, child)
                except _Bad as bad:
                    bad.where.append("." + key)
                    raise
        return
    if kind is None:
        return
    if kind in ("text", "dateTime", "date"):
        if type(value) is not str:
            raise _Bad(f"must be {_expect(node)}, not {_json_kind(value)}")
        if kind == "dateTime" or kind == "date":
            try:
                parse_datetime(value) if kind == "dateTime" else parse_date(value)
            except DateFormatError as exc:
                raise _Bad(str(exc)) from None
        elif node.codes is not None and value not in node.codes:
            raise _Bad("is not a code of its required R4 value set")
    elif kind == "boolean":
        if type(value) is not bool:
            raise _Bad(f"must be {_expect(node)}, not {_json_kind(value)}")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"must be {_expect(node)}, not {_json_kind(value)}")
    elif kind == "integer" and isinstance(value, float):
        raise _Bad(f"must be {_expect(node)}, not a decimal")


def _element(value: Any, node: _Node) -> None:
    if node.repeats:
        if type(value) is not list:
            raise _Bad(f"must be a list ({node.type_name} repeats), not {_json_kind(value)}")
        for i, item in enumerate(value):
            if item is not None:
                try:
                    _item(item, node)
                except _Bad as bad:
                    bad.where.append(f"[{i}]")
                    raise
    elif type(value) is list:
        raise _Bad("must be a single value, not a list")
    else:
        _item(value, node)


def check_reads(resource: dict[str, Any], rtype: str, tree: dict[str, _Node]) -> None:
    """Raise :class:`InvalidRecord` naming the first element read by a view that is ill-typed."""
    for key, node in tree.items():
        value = resource.get(key)
        if value is not None:
            try:
                _element(value, node)
            except _Bad as bad:
                path = rtype + "." + key + "".join(reversed(bad.where))
                raise InvalidRecord(f"{path} {bad.message}") from None


__all__ = ["REPEATING", "Reads", "check_reads", "compile_reads", "required_bindings", "view_reads"]
