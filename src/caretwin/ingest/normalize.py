"""FHIR resources to rows of the lake's normalized tables (docs/data-contract.md).

Each normalizer reads exactly the fields its table needs, checks the ones the contract relies
on (required fields, date shapes, periods in order) and raises :class:`InvalidRecord` otherwise,
so a record is either fully normalized or quarantined, never half-loaded. Resource types with
no normalized table (Condition, Organization, ...) pass with no rows and live in the raw
``resources`` table only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from caretwin.ingest.fhirtypes import R4_RESOURCE_TYPES
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
from caretwin.ingest.records import InvalidRecord, Record
from caretwin.ingest.refs import first_ref, resolve

Row = dict[str, Any]
Rows = dict[str, list[Row]]
Refs = Mapping[str, str]

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MRN_SYSTEM = "urn:caretwin:mrn"
LOCATION_SYSTEM = "urn:caretwin:location"
ASSET_SYSTEM = "urn:caretwin:asset"


def identity(record: Record) -> tuple[str, str]:
    """(resourceType, id) of a FHIR record, checked: known R4 type, matching the file, valid id."""
    data = record.data or {}
    rtype = data.get("resourceType")
    if rtype is None:
        raise InvalidRecord("resourceType is missing")
    if not isinstance(rtype, str) or rtype not in R4_RESOURCE_TYPES:
        raise InvalidRecord(f"unknown resourceType {str(rtype)[:64]!r}")
    if rtype == "Bundle":
        raise InvalidRecord("nested Bundle is not supported")
    if record.file_type is not None and rtype != record.file_type:
        raise InvalidRecord(f"resourceType {rtype} in a {record.file_type} file")
    rid = data.get("id")
    if rid is None or rid == "":
        raise InvalidRecord(f"{rtype}.id is required")
    if not isinstance(rid, str) or not _ID.fullmatch(rid):
        raise InvalidRecord(f"{rtype}.id is not a valid FHIR id")
    return rtype, rid


def _patient(res: Row, refs: Refs) -> Rows:
    gender = text(res.get("gender"), "Patient.gender")
    row = {
        "patient_id": res["id"],
        "gender": gender,
        "birth_date": day(res.get("birthDate"), "Patient.birthDate"),
        "mrn": _mrn(res.get("identifier")),
    }
    return {"patients": [row]}


def _mrn(idents: Any) -> str | None:
    """The identifier with system ``urn:caretwin:mrn``, else the one typed ``MR`` (v2-0203)."""
    if not isinstance(idents, list):
        return None
    found = [i for i in idents if isinstance(i, dict) and isinstance(i.get("value"), str)]
    for ident in found:
        if ident.get("system") == MRN_SYSTEM:
            return str(ident["value"])
    for ident in found:
        codes = obj(ident.get("type"), "Patient.identifier.type").get("coding")
        if isinstance(codes, list) and any(
            isinstance(c, dict) and c.get("code") == "MR" for c in codes
        ):
            return str(ident["value"])
    return None


def _encounter(res: Row, refs: Refs) -> Rows:
    status = require_text(res, "status", "Encounter")
    cls = res.get("class")
    if isinstance(cls, list):  # R5 shape (CodeableConcept list): take the first coding
        cls = ((cls[0] or {}).get("coding") or [None])[0] if cls else None
    class_code = text(obj(cls, "Encounter.class").get("code"), "Encounter.class.code")
    if not class_code:
        raise InvalidRecord("Encounter.class is required")
    start, end = period(res.get("period"), "Encounter.period")
    hosp = obj(res.get("hospitalization"), "Encounter.hospitalization")
    eid = res["id"]
    moves: list[Row] = []
    locs = res.get("location") or []
    if not isinstance(locs, list):
        raise InvalidRecord("Encounter.location must be a list")
    for seq, loc in enumerate(locs):
        path = f"Encounter.location[{seq}]"
        entry = obj(loc, path)
        m_start, m_end = period(entry.get("period"), f"{path}.period")
        moves.append(
            {
                "encounter_id": eid,
                "seq": seq,
                "location_id": resolve(entry.get("location"), refs),
                "status": text(entry.get("status"), f"{path}.status"),
                "start": m_start,
                "end": m_end,
            }
        )
    row = {
        "encounter_id": eid,
        "patient_id": resolve(res.get("subject"), refs),
        "class_code": class_code,
        "status": status,
        "start": start,
        "end": end,
        "part_of": resolve(res.get("partOf"), refs),
        "admit_source": concept(hosp.get("admitSource"), "Encounter.hospitalization.admitSource")[
            1
        ],
        "discharge_disposition": concept(
            hosp.get("dischargeDisposition"), "Encounter.hospitalization.dischargeDisposition"
        )[1],
    }
    return {"encounters": [row], "movements": moves}


def _location(res: Row, refs: Refs) -> Rows:
    row = {
        "location_id": res["id"],
        "identifier": identifier_value(res.get("identifier"), "Location", LOCATION_SYSTEM),
        "name": text(res.get("name"), "Location.name"),
        "physical_type": concept(res.get("physicalType"), "Location.physicalType")[1],
        "part_of": resolve(res.get("partOf"), refs),
        "status": text(res.get("status"), "Location.status"),
    }
    return {"locations": [row]}


def _device(res: Row, refs: Refs) -> Rows:
    _, type_code, type_display = concept(res.get("type"), "Device.type")
    ident = identifier_value(res.get("identifier"), "Device", ASSET_SYSTEM)
    row = {
        "device_id": res["id"],
        "identifier": ident or text(res.get("distinctIdentifier"), "Device.distinctIdentifier"),
        "type_code": type_code,
        "type_display": type_display,
        "location_id": resolve(res.get("location"), refs),
        "status": text(res.get("status"), "Device.status"),
    }
    return {"devices": [row]}


def _procedure(res: Row, refs: Refs) -> Rows:
    status = require_text(res, "status", "Procedure")
    require_present(res, "subject", "Procedure")
    if "performedPeriod" in res:
        start, end = period(res.get("performedPeriod"), "Procedure.performedPeriod")
    else:
        start = instant(res.get("performedDateTime"), "Procedure.performedDateTime")
        end = None
    system, code, _ = concept(res.get("code"), "Procedure.code")
    row = {
        "procedure_id": res["id"],
        "patient_id": resolve(res.get("subject"), refs),
        "encounter_id": resolve(res.get("encounter"), refs),
        "code_system": system,
        "code": code,
        "status": status,
        "start": start,
        "end": end,
        "device_id": first_ref(res.get("usedReference"), refs, prefer="Device"),
        "based_on": first_ref(res.get("basedOn"), refs),
    }
    return {"procedures": [row]}


def _service_request(res: Row, refs: Refs) -> Rows:
    status = require_text(res, "status", "ServiceRequest")
    require_present(res, "subject", "ServiceRequest")
    system, code, _ = concept(res.get("code"), "ServiceRequest.code")
    row = {
        "request_id": res["id"],
        "patient_id": resolve(res.get("subject"), refs),
        "encounter_id": resolve(res.get("encounter"), refs),
        "code_system": system,
        "code": code,
        "status": status,
        "authored_on": instant(res.get("authoredOn"), "ServiceRequest.authoredOn"),
    }
    return {"service_requests": [row]}


NORMALIZERS: dict[str, Callable[[Row, Refs], Rows]] = {
    "Patient": _patient,
    "Encounter": _encounter,
    "Location": _location,
    "Device": _device,
    "Procedure": _procedure,
    "ServiceRequest": _service_request,
}


def normalize(rtype: str, resource: Row, refs: Refs) -> Rows:
    """Normalized rows per table for one resource (none for types without a table)."""
    fn = NORMALIZERS.get(rtype)
    return fn(resource, refs) if fn is not None else {}
