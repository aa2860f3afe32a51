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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from caretwin.ingest.shapecode import generate
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
#: The types whose elements :data:`REPEATING` covers (those above, and the data types they use
#: that have no repeating element); elsewhere (a site view over another type) a list and a
#: single value are both taken, their items checked.
COVERED_TYPES = frozenset(
    {"Patient", "Encounter", "Location", "Device", "Procedure", "ServiceRequest", "Observation",
     "Address", "Age", "Annotation", "Attachment", "CodeableConcept", "Coding", "ContactPoint",
     "Duration", "Extension", "HumanName", "Identifier", "Meta", "Narrative", "Period",
     "Quantity", "Range", "Ratio", "Reference", "SampledData", "Timing"}
)  # fmt: skip
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
    repeats: bool | None  # None: not known (a type :data:`COVERED_TYPES` does not hold)
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


#: The check of one resource type (raises :class:`InvalidRecord`).
Check = Callable[[dict[str, Any]], None]


@lru_cache(maxsize=16)
def compile_reads(reads: Reads) -> dict[str, Check]:
    """A check per resource type of ``reads`` (cached: workers get the reads with each chunk),
    generated as one Python function per type (:mod:`caretwin.ingest.shapecode`)."""
    bindings = required_bindings()
    trees: dict[str, dict[str, _Node]] = {}
    for rtype, paths in reads:
        root: dict[str, _Node] = trees.setdefault(rtype, {})
        for path in paths:
            level = root
            for key, defpath, tpath in path:
                node = level.get(key)
                if node is None:
                    repeats: bool | None = key in _EVERYWHERE or defpath in REPEATING
                    if not repeats and defpath.split(".", 1)[0] not in COVERED_TYPES:
                        repeats = None
                    name = (tpath or "").removeprefix("System.")
                    codes = bindings.get(defpath) if name == "code" else None
                    node = level[key] = _Node(_kind(tpath), name, repeats, codes)
                level = node.children
    return {rtype: generate(rtype, dict(tree)) for rtype, tree in trees.items()}


__all__ = [
    "COVERED_TYPES",
    "REPEATING",
    "Check",
    "Reads",
    "compile_reads",
    "required_bindings",
    "view_reads",
]
