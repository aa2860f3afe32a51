"""Record checks before a resource enters the lake: identity, and the fields tables rely on.

The normalized tables are produced by ViewDefinitions (:mod:`caretwin.ingest.tables`), which
map but do not judge. The checks here decide which records are quarantined instead: a known R4
type matching its file, a valid id, and for the types with a canonical table the fields the
contract relies on (required fields, date shapes, periods in order). A record is either fully
accepted or quarantined with the FHIR path at fault, never half-loaded. Types without a table
(Condition, Organization, ...) are checked for identity only and live in the raw table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from caretwin.fhir.dates import DateFormatError, parse_datetime
from caretwin.fhir.types import R4_RESOURCE_TYPES
from caretwin.ingest.fields import (
    concept,
    day,
    identifier_value,
    instant,
    obj,
    period,
    require_present,
    require_text,
    text,
)
from caretwin.ingest.records import InvalidRecord

Res = dict[str, Any]

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def identity(data: Res, file_type: str | None) -> tuple[str, str]:
    """(resourceType, id) of a FHIR record, checked: known R4 type, matching the file, valid id."""
    rtype = data.get("resourceType")
    if rtype is None:
        raise InvalidRecord("resourceType is missing")
    if not isinstance(rtype, str) or rtype not in R4_RESOURCE_TYPES:
        raise InvalidRecord(f"unknown resourceType {str(rtype)[:64]!r}")
    if rtype == "Bundle":
        raise InvalidRecord("nested Bundle is not supported")
    if file_type is not None and rtype != file_type:
        raise InvalidRecord(f"resourceType {rtype} in a {file_type} file")
    rid = data.get("id")
    if rid is None or rid == "":
        raise InvalidRecord(f"{rtype}.id is required")
    if not isinstance(rid, str) or not _ID.fullmatch(rid):
        raise InvalidRecord(f"{rtype}.id is not a valid FHIR id")
    return rtype, rid


def _patient(res: Res) -> None:
    text(res.get("gender"), "Patient.gender")
    day(res.get("birthDate"), "Patient.birthDate")
    idents = res.get("identifier")
    if isinstance(idents, list):
        for ident in idents:
            if isinstance(ident, dict):
                obj(ident.get("type"), "Patient.identifier.type")


def _location_period_path(seq: int) -> Callable[[], str]:
    return lambda: f"Encounter.location[{seq}].period"


def _period(value: Any, where: Callable[[], str]) -> None:
    """:func:`caretwin.ingest.fields.period` without building path texts unless it fails.

    Encounters carry several periods each, and formatting their FHIR paths up front cost more
    than checking them; ``where`` makes the path only for an error message.
    """
    if value is None:
        return
    if type(value) is not dict:
        raise InvalidRecord(f"{where()} must be an object")
    start, end = value.get("start"), value.get("end")
    if start is None and end is None:
        return
    try:
        s = parse_datetime(start) if start is not None else None
        e = parse_datetime(end) if end is not None else None
    except DateFormatError as exc:
        bad = "start" if start is not None and not _is_instant(start) else "end"
        raise InvalidRecord(f"{where()}.{bad}: {exc}") from None
    if s is not None and e is not None and e < s:
        raise InvalidRecord(f"{where()} end is before start")


def _is_instant(value: Any) -> bool:
    try:
        parse_datetime(value)
    except DateFormatError:
        return False
    return True


def _encounter(res: Res) -> None:
    status = res.get("status")
    if not status or type(status) is not str:
        require_text(res, "status", "Encounter")
    cls = res.get("class")
    if type(cls) is list:  # R5's shape (a list of CodeableConcept): R4 has one Coding
        raise InvalidRecord("Encounter.class must be a single value (a Coding), not a list")
    if not text(obj(cls, "Encounter.class").get("code"), "Encounter.class.code"):
        raise InvalidRecord("Encounter.class is required")
    _period(res.get("period"), lambda: "Encounter.period")
    hosp = res.get("hospitalization")
    if hosp is not None:
        hosp = obj(hosp, "Encounter.hospitalization")
        concept(hosp.get("admitSource"), "Encounter.hospitalization.admitSource")
        concept(hosp.get("dischargeDisposition"), "Encounter.hospitalization.dischargeDisposition")
    locs = res.get("location") or []
    if type(locs) is not list:
        raise InvalidRecord("Encounter.location must be a list")
    for seq, entry in enumerate(locs):
        if type(entry) is not dict:
            obj(entry, f"Encounter.location[{seq}]")
            continue
        _period(entry.get("period"), _location_period_path(seq))
        loc_status = entry.get("status")
        if loc_status is not None and type(loc_status) is not str:
            raise InvalidRecord(f"Encounter.location[{seq}].status must be a string")


def _location(res: Res) -> None:
    identifier_value(res.get("identifier"), "Location")
    text(res.get("name"), "Location.name")
    concept(res.get("physicalType"), "Location.physicalType")
    text(res.get("status"), "Location.status")


def _device(res: Res) -> None:
    concept(res.get("type"), "Device.type")
    text(res.get("distinctIdentifier"), "Device.distinctIdentifier")
    text(res.get("status"), "Device.status")


def _procedure(res: Res) -> None:
    require_text(res, "status", "Procedure")
    require_present(res, "subject", "Procedure")
    if "performedPeriod" in res:
        period(res.get("performedPeriod"), "Procedure.performedPeriod")
    else:
        instant(res.get("performedDateTime"), "Procedure.performedDateTime")
    concept(res.get("code"), "Procedure.code")


def _service_request(res: Res) -> None:
    require_text(res, "status", "ServiceRequest")
    require_present(res, "subject", "ServiceRequest")
    concept(res.get("code"), "ServiceRequest.code")
    instant(res.get("authoredOn"), "ServiceRequest.authoredOn")


def _observation(res: Res) -> None:
    require_text(res, "status", "Observation")
    for key in ("effectiveDateTime", "effectiveInstant"):
        instant(res.get(key), f"Observation.{key}")
    if "effectivePeriod" in res:
        period(res.get("effectivePeriod"), "Observation.effectivePeriod")
    quantity = obj(res.get("valueQuantity"), "Observation.valueQuantity")
    value = quantity.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise InvalidRecord("Observation.valueQuantity.value must be a number")


#: Checks per resource type with a canonical table (raise :class:`InvalidRecord`).
VALIDATORS: dict[str, Callable[[Res], None]] = {
    "Patient": _patient,
    "Encounter": _encounter,
    "Location": _location,
    "Device": _device,
    "Procedure": _procedure,
    "ServiceRequest": _service_request,
    "Observation": _observation,
}

#: The FHIR types the lake has a normalized table for.
NORMALIZED_TYPES: tuple[str, ...] = tuple(sorted(VALIDATORS))
#: The operational types calibration reads (a REST pull's default; Observations are opt-in,
#: their volume on a real server dwarfs the rest).
CORE_TYPES: tuple[str, ...] = tuple(t for t in NORMALIZED_TYPES if t != "Observation")


def validate(rtype: str, resource: Res) -> None:
    """Raise :class:`InvalidRecord` if ``resource`` lacks what its table relies on."""
    check = VALIDATORS.get(rtype)
    if check is not None:
        check(resource)
