"""Hand-built FHIR NDJSON with planted defects, shared by the quality and snapshot tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

T0 = "2025-01-06T"


def _move(loc: str, start: str, end: str | None) -> dict[str, Any]:
    period = {"start": T0 + start} | ({"end": T0 + end} if end else {})
    return {"location": {"reference": f"Location/{loc}"}, "status": "completed", "period": period}


def encounter(
    eid: str,
    patient: str = "p1",
    cls: str = "EMER",
    start: str = "08:00:00Z",
    end: str = "12:00:00Z",
    moves: list[dict[str, Any]] | None = None,
    status: str = "finished",
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": cls},
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": T0 + start, "end": T0 + end},
        "hospitalization": {"dischargeDisposition": {"coding": [{"code": "home"}]}},
        "location": moves
        if moves is not None
        else [_move("wait", "08:00:00Z", "09:00:00Z"), _move("bed-1", "09:00:00Z", "12:00:00Z")],
    }


def base_resources() -> dict[str, list[dict[str, Any]]]:
    """Two patients, a unit with two beds and a waiting area; one clean encounter."""
    patients = [
        {
            "resourceType": "Patient",
            "id": pid,
            "gender": "female",
            "birthDate": "1970-01-01",
            "name": [{"family": "Testperson", "given": ["Alex"]}],
        }
        for pid in ("p1", "p2")
    ]
    unit = {"resourceType": "Location", "id": "unit", "status": "active",
            "physicalType": {"coding": [{"code": "wa"}]}}  # fmt: skip
    locs = [unit] + [
        {
            "resourceType": "Location",
            "id": lid,
            "status": "active",
            "physicalType": {"coding": [{"code": code}]},
            "partOf": {"reference": "Location/unit"},
        }
        for lid, code in (("wait", "area"), ("bed-1", "bd"), ("bed-2", "bd"))
    ]
    return {"Patient": patients, "Location": locs, "Encounter": [encounter("e-clean")]}


def defect_encounters() -> list[dict[str, Any]]:
    """One encounter per planted defect (line 2.. of Encounter.ndjson after the clean one)."""
    return [
        encounter("e-dangling", patient="p-missing"),
        encounter("e-inverted", start="12:00:00Z", end="08:00:00Z", moves=[]),
        encounter(
            "e-overlap",
            moves=[_move("bed-1", "08:00:00Z", "11:00:00Z"), _move("bed-2", "10:00:00Z", None)],
        ),
        encounter("e-badclass", cls="XYZ"),
    ]


def write_ndjson(folder: Path, resources: dict[str, list[dict[str, Any]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rtype, items in resources.items():
        with open(folder / f"{rtype}.ndjson", "wb") as fh:
            for item in items:
                fh.write(orjson.dumps(item) + b"\n")
    return folder
