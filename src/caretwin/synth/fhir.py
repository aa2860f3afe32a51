"""FHIR R4 resources for the layout and for one patient's episode, as plain dicts.

Shapes follow docs/data-contract.md to the letter, because ingestion and calibration look for
exactly these codes and references. References are relative (``Patient/<id>``); instants are the
preformatted UTC strings of the trace rows (see :mod:`caretwin.synth.window`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from caretwin.synth.episodes import EMER, Enc, Episode
from caretwin.synth.layout import Asset, Ids, Place
from caretwin.synth.window import Stamps

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ADMIT_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
SNOMED = "http://snomed.info/sct"
ORDER_SYSTEM = "urn:caretwin:order"

_PHYSICAL_DISPLAY = {"wa": "Ward", "bd": "Bed", "area": "Area"}
_CLASS_DISPLAY = {EMER: "emergency", "IMP": "inpatient encounter"}
# Procedure codes by device unit; other devices get a code in the CareTwin namespace.
_PROCEDURE_CODES = {"CT": (SNOMED, "77477000", "Computerized axial tomography")}

Json = dict[str, Any]


def location(place: Place) -> Json:
    res: Json = {
        "resourceType": "Location",
        "id": place.id,
        "identifier": [{"system": "urn:caretwin:location", "value": place.identifier}],
        "status": "active",
        "name": place.name,
        "mode": "instance",
        "physicalType": {
            "coding": [
                {
                    "system": PHYSICAL_TYPE,
                    "code": place.physical_type,
                    "display": _PHYSICAL_DISPLAY[place.physical_type],
                }
            ]
        },
    }
    if place.part_of:
        res["partOf"] = {"reference": f"Location/{place.part_of}"}
    return res


def device(asset: Asset) -> Json:
    res: Json = {
        "resourceType": "Device",
        "id": asset.id,
        "identifier": [{"system": "urn:caretwin:asset", "value": asset.identifier}],
        "status": "active",
        "deviceName": [{"name": asset.identifier, "type": "user-friendly-name"}],
        "type": {
            "coding": [
                {
                    "system": "urn:caretwin:device-type",
                    "code": asset.type_code,
                    "display": asset.type_display,
                }
            ]
        },
    }
    if asset.location_id:
        res["location"] = {"reference": f"Location/{asset.location_id}"}
    return res


def _period(start: str, end: str | None) -> Json:
    return {"start": start, "end": end} if end is not None else {"start": start}


class EpisodeRenderer:
    """Renders an :class:`Episode` into Encounter, ServiceRequest and Procedure dicts."""

    def __init__(self, ids: Ids, stamps: Stamps) -> None:
        self.ids = ids
        self.stamps = stamps

    def _at(self, row: int) -> str | None:
        return self.stamps[row] if row >= 0 else None

    def encounters(self, ep: Episode, patient_ref: Json) -> Iterator[Json]:
        admitted = {e.part_of for e in ep.encounters if e.part_of >= 0}
        for n, enc in enumerate(ep.encounters):
            yield self._encounter(ep, n, enc, patient_ref, n in admitted)

    def _encounter(self, ep: Episode, n: int, enc: Enc, patient_ref: Json, admitted: bool) -> Json:
        at = self.stamps
        finished = enc.finished
        res: Json = {
            "resourceType": "Encounter",
            "id": self.ids.record_id("Encounter", ep.entity, n),
            "status": "finished" if finished else "in-progress",
            "class": {"system": ACT_CODE, "code": enc.cls, "display": _CLASS_DISPLAY[enc.cls]},
            "subject": patient_ref,
            "period": _period(at[enc.start], self._at(enc.end)),
        }
        if enc.part_of >= 0:
            ref = self.ids.record_id("Encounter", ep.entity, enc.part_of)
            res["partOf"] = {"reference": f"Encounter/{ref}"}
        res["location"] = [
            {
                "location": {"reference": f"Location/{s.place.id}", "display": s.place.identifier},
                "status": "completed" if s.end >= 0 else "active",
                "period": _period(at[s.start], self._at(s.end)),
            }
            for s in enc.stays
        ]
        hosp: Json = {}
        if enc.cls != EMER:
            if enc.part_of >= 0 and ep.encounters[enc.part_of].cls == EMER:
                hosp["admitSource"] = _coded(
                    ADMIT_SOURCE, "emd", "From accident/emergency department"
                )
            elif enc.from_arrival:
                hosp["admitSource"] = _coded(ADMIT_SOURCE, "outp", "From outpatient department")
        if finished:
            if admitted and enc.cls == EMER:
                disposition = _coded(DISCHARGE, "oth", "Other")
                disposition["text"] = "Admitted as inpatient"
            else:
                disposition = _coded(DISCHARGE, "home", "Home")
            hosp["dischargeDisposition"] = disposition
        if hosp:
            res["hospitalization"] = hosp
        return res

    def service_requests(self, ep: Episode, patient_ref: Json) -> Iterator[Json]:
        for n, order in enumerate(ep.orders):
            res: Json = {
                "resourceType": "ServiceRequest",
                "id": self.ids.record_id("ServiceRequest", ep.entity, n),
                "status": "completed" if order.done else "active",
                "intent": "order",
                "code": {
                    "coding": [
                        {"system": ORDER_SYSTEM, "code": order.code, "display": order.display}
                    ]
                },
                "subject": patient_ref,
            }
            if order.enc >= 0:
                enc_id = self.ids.record_id("Encounter", ep.entity, order.enc)
                res["encounter"] = {"reference": f"Encounter/{enc_id}"}
            res["authoredOn"] = self.stamps[order.authored]
            yield res

    def procedures(self, ep: Episode, patient_ref: Json) -> Iterator[Json]:
        for n, scan in enumerate(ep.scans):
            unit = scan.asset.type_code if scan.asset else ""
            system, code, display = _PROCEDURE_CODES.get(
                unit, ("urn:caretwin:procedure", unit.lower(), f"{unit} procedure")
            )
            res: Json = {
                "resourceType": "Procedure",
                "id": self.ids.record_id("Procedure", ep.entity, n),
                "status": "completed" if scan.end >= 0 else "in-progress",
                "code": {"coding": [{"system": system, "code": code, "display": display}]},
                "subject": patient_ref,
            }
            if scan.order >= 0:
                order_id = self.ids.record_id("ServiceRequest", ep.entity, scan.order)
                res["basedOn"] = [{"reference": f"ServiceRequest/{order_id}"}]
            if scan.enc >= 0:
                enc_id = self.ids.record_id("Encounter", ep.entity, scan.enc)
                res["encounter"] = {"reference": f"Encounter/{enc_id}"}
            res["performedPeriod"] = _period(self.stamps[scan.start], self._at(scan.end))
            if scan.asset is not None:
                res["usedReference"] = [
                    {"reference": f"Device/{scan.asset.id}", "display": scan.asset.identifier}
                ]
            yield res


def _coded(system: str, code: str, display: str) -> Json:
    return {"coding": [{"system": system, "code": code, "display": display}]}
