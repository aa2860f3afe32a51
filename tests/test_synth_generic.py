"""The generator on a model that is not RH1: the FHIR mapping follows kinds, units and steps.

A small urgent-care centre with differently named pools (a staff pool, an X-ray device, an
observation ward) must map onto the same shapes with codes and identifiers derived from the
model. FHIR validity is checked with ``fhir.resources.R4B`` (R4B is the R4 errata release; these
resource structures are the same in R4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.servicerequest import ServiceRequest

from caretwin.model import definition_from_data
from caretwin.synth import RESOURCE_TYPES, generate

MODELS: dict[str, Any] = {
    "Patient": Patient,
    "Location": Location,
    "Encounter": Encounter,
    "ServiceRequest": ServiceRequest,
    "Procedure": Procedure,
    "Device": Device,
}


def read(out: Path, kind: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / f"{kind}.ndjson").read_bytes().splitlines()]


def identifiers(out: Path, kind: str) -> list[str]:
    return sorted(r["identifier"][0]["value"] for r in read(out, kind))


GENERIC = {
    "name": "urgent-care",
    "resources": {
        "cubicle": {"capacity": 4, "kind": "treatment_space", "unit": "UC"},
        "xray": {"capacity": 1, "kind": "device", "unit": "XR"},
        "obs_bed": {"capacity": 3, "kind": "bed", "unit": "OBS"},
        "nurse": {"capacity": 2, "kind": "staff"},
    },
    "arrivals": {"walk_in": {"type": "poisson", "pathway": "visit", "rates": [2.0] * 24}},
    "pathways": {
        "visit": {
            "steps": [
                {
                    "id": "assess",
                    "acquire": ["cubicle", "nurse"],
                    "release_after": ["nurse"],
                    "duration": {"dist": "exponential", "mean": 1.0},
                    "next": [{"to": "image", "p": 0.5}, {"to": "observe", "p": 0.5}],
                },
                {
                    "id": "image",
                    "acquire": ["xray"],
                    "release_after": ["xray"],
                    "duration": {"dist": "exponential", "mean": 0.2},
                },
                {
                    "id": "observe",
                    "acquire": ["obs_bed"],
                    "release_on_acquire": ["cubicle"],
                    "duration": {"dist": "exponential", "mean": 6.0},
                },
            ]
        }
    },
    "run": {"warmup_days": 1, "run_days": 2},
}


def test_mapping_follows_the_model_not_rh1_names(tmp_path: Path) -> None:
    """A different hospital: codes, identifiers and classes come from kinds and units."""
    defn = definition_from_data(GENERIC)
    report = generate(defn, 2, 3, tmp_path)
    assert report.counts["Patient"] > 50
    assert identifiers(tmp_path, "Location") == sorted(
        ["UC", "OBS", "UC-01", "UC-02", "UC-03", "UC-04", "OBS-01", "OBS-02", "OBS-03", "UC-WAIT"]
    )
    assert identifiers(tmp_path, "Device") == ["XR-1"]
    codes = {r["code"]["coding"][0]["code"] for r in read(tmp_path, "ServiceRequest")}
    assert codes == {"xr", "admit-obs"}
    proc = read(tmp_path, "Procedure")[0]
    assert proc["code"]["coding"][0] == {
        "system": "urn:caretwin:procedure",
        "code": "xr",
        "display": "XR procedure",
    }
    classes = {e["class"]["code"] for e in read(tmp_path, "Encounter")}
    assert classes == {"EMER", "IMP"}
    for kind in RESOURCE_TYPES:
        for res in read(tmp_path, kind)[:50]:
            MODELS[kind].model_validate(res)
