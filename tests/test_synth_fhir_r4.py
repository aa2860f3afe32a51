"""Generator output validates as FHIR R4 (4.0.1), every resource, with SMART's fhirclient models.

``fhirclient`` 4.x ships models generated from the FHIR R4 specification; with ``strict=True``
it rejects unknown elements, wrong types, malformed dates and missing required elements. The
other synth tests also check a sample with ``fhir.resources`` R4B models.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fhirclient.models import device, encounter, location, patient, procedure, servicerequest
from fhirclient.models.fhirabstractbase import FHIRValidationError

from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.synth import generate

MODELS = {
    "Patient": patient.Patient,
    "Location": location.Location,
    "Encounter": encounter.Encounter,
    "ServiceRequest": servicerequest.ServiceRequest,
    "Procedure": procedure.Procedure,
    "Device": device.Device,
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth-r4")
    generate(load_definition(example_path(REFERENCE_HOSPITAL)), 7, 5, out, warmup_days=7)
    return out


@pytest.mark.parametrize("rtype", sorted(MODELS))
def test_every_resource_is_valid_r4(dataset: Path, rtype: str) -> None:
    lines = (dataset / f"{rtype}.ndjson").read_bytes().splitlines()
    assert lines, f"no {rtype} written"
    for i, line in enumerate(lines, 1):
        data = orjson.loads(line)
        assert data["resourceType"] == rtype
        try:
            MODELS[rtype](data, strict=True)
        except FHIRValidationError as exc:
            pytest.fail(f"{rtype}.ndjson line {i} is not valid R4: {exc}")


def test_the_validator_rejects_invalid_r4(dataset: Path) -> None:
    """The check above can fail: a malformed date and an unknown element are refused."""
    data = orjson.loads((dataset / "Encounter.ndjson").read_bytes().splitlines()[0])
    data["period"]["start"] = "yesterday"
    with pytest.raises(FHIRValidationError):
        encounter.Encounter(data, strict=True)
    data = orjson.loads((dataset / "Procedure.ndjson").read_bytes().splitlines()[0])
    data["scanner"] = "CT-1"
    with pytest.raises(FHIRValidationError):
        procedure.Procedure(data, strict=True)
