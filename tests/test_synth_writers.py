"""The synth writers on a hand-made RH1 trace: every FHIR field checked against a known story.

The trace is written event by event the way the engine emits them (same kinds, same order within
an instant), so each expectation below can be read straight off the script. FHIR validity is
checked with ``fhir.resources.R4B``: R4B is the R4 errata release and its Patient, Location,
Encounter, ServiceRequest, Procedure and Device structures are those of R4.
"""

from __future__ import annotations

import csv
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.servicerequest import ServiceRequest

from caretwin.errors import ConfigError
from caretwin.model import example_path, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.sim.trace import EventKind as K
from caretwin.sim.trace import Trace, TraceRecorder
from caretwin.synth import RESOURCE_TYPES, Window, write_dataset
from caretwin.synth.layout import Ids

MODELS: dict[str, Any] = {
    "Patient": Patient,
    "Location": Location,
    "Encounter": Encounter,
    "ServiceRequest": ServiceRequest,
    "Procedure": Procedure,
    "Device": Device,
}
START = date(2025, 1, 6)


@pytest.fixture(scope="module")
def rh1() -> TwinDefinition:
    return load_definition(example_path("reference-hospital"))


class Script:
    """Builds a trace with RH1's indexes: ``S("ed.icu")`` is a step, ``R("icu_bed")`` a pool."""

    def __init__(self, defn: TwinDefinition) -> None:
        self.steps = [f"{p}.{s.id}" for p, pw in defn.pathways.items() for s in pw.steps]
        self.res = list(defn.resources)
        self.rows: list[tuple[float, int, int, int, int, int]] = []

    def __call__(self, t: float, kind: K, entity: int, ref: str | int, unit: int = -1) -> Script:
        r = (
            ref
            if isinstance(ref, int)
            else (self.steps.index(ref) if "." in ref else self.res.index(ref))
        )
        self.rows.append((t, int(kind), entity, r, unit, -1))
        return self

    def device(self, t: float, kind: K, unit: int, clock: int) -> Script:
        r = self.res.index("ct")
        if kind == K.FAIL:
            self.rows.append((t, int(kind), -1, r, clock, -1))
        else:
            self.rows.append((t, int(kind), -1, r, unit, clock))
        return self

    def zero_steps(self, t: float, entity: int, *names: str) -> Script:
        for n in names:
            self(t, K.REQUEST, entity, n)
            self(t, K.START, entity, n)
            self(t, K.END, entity, n)
        return self

    def trace(self, horizon: float) -> Trace:
        rec = TraceRecorder()
        for row in sorted(self.rows, key=lambda r: r[0]):  # stable: keeps same-instant order
            rec.add(*row)
        return rec.finish(self.steps, self.res, ["ed", "elective"], ["ed", "elective"], horizon)


def story(defn: TwinDefinition) -> Trace:
    """Window [24, 72) h = 2025-01-06 .. 2025-01-08 with one day of warm-up."""
    s = Script(defn)
    # P0: arrives in the warm-up, CT on CT-1, discharged home inside the window.
    s(22.0, K.ARRIVE, 0, 0, 0), s(22.0, K.REQUEST, 0, "ed.treatment")
    s(22.5, K.ACQUIRE, 0, "ed_space", 7), s(22.5, K.START, 0, "ed.treatment")
    s(24.5, K.END, 0, "ed.treatment"), s(24.5, K.REQUEST, 0, "ed.ct_scan")
    s(25.0, K.ACQUIRE, 0, "ct", 0), s(25.0, K.START, 0, "ed.ct_scan")
    s(25.25, K.END, 0, "ed.ct_scan"), s(25.25, K.RELEASE, 0, "ct", 0)
    s(25.25, K.REQUEST, 0, "ed.ct_review"), s(25.25, K.START, 0, "ed.ct_review")
    s(26.0, K.END, 0, "ed.ct_review"), s.zero_steps(26.0, 0, "ed.disposition")
    s(26.0, K.EXIT, 0, 0), s(26.0, K.RELEASE, 0, "ed_space", 7)
    # P1: ED -> ICU (boarding 2 h) -> step-down to the ward (blocked 2 h) -> home.
    s(30.0, K.ARRIVE, 1, 0, 0), s(30.0, K.REQUEST, 1, "ed.treatment")
    s(30.0, K.ACQUIRE, 1, "ed_space", 2), s(30.0, K.START, 1, "ed.treatment")
    s(32.0, K.END, 1, "ed.treatment"), s.zero_steps(32.0, 1, "ed.disposition", "ed.admit")
    s(32.0, K.REQUEST, 1, "ed.icu")
    s(34.0, K.ACQUIRE, 1, "icu_bed", 2), s(34.0, K.RELEASE, 1, "ed_space", 2)
    s(34.0, K.START, 1, "ed.icu"), s(50.0, K.END, 1, "ed.icu"), s(50.0, K.REQUEST, 1, "ed.stepdown")
    s(52.0, K.ACQUIRE, 1, "ward_bed", 111), s(52.0, K.RELEASE, 1, "icu_bed", 2)
    s(52.0, K.START, 1, "ed.stepdown"), s(60.0, K.END, 1, "ed.stepdown")
    s(60.0, K.EXIT, 1, 0), s(60.0, K.RELEASE, 1, "ward_bed", 111)
    # P2: elective, waits 1 h in the lounge, still in SURG-21 at the window end.
    s(55.0, K.ARRIVE, 2, 1, 1), s(55.0, K.REQUEST, 2, "elective.surgical_stay")
    s(56.0, K.ACQUIRE, 2, "surgical_bed", 20), s(56.0, K.START, 2, "elective.surgical_stay")
    s(80.0, K.END, 2, "elective.surgical_stay"), s(80.0, K.EXIT, 2, 1)
    # P3: boarding in ED-01 for a ward bed at the window end.
    s(60.0, K.ARRIVE, 3, 0, 0), s(60.0, K.REQUEST, 3, "ed.treatment")
    s(60.0, K.ACQUIRE, 3, "ed_space", 0), s(60.0, K.START, 3, "ed.treatment")
    s(62.0, K.END, 3, "ed.treatment"), s.zero_steps(62.0, 3, "ed.disposition", "ed.admit")
    s(62.0, K.REQUEST, 3, "ed.ward"), s(75.0, K.ACQUIRE, 3, "ward_bed", 5)
    s(75.0, K.RELEASE, 3, "ed_space", 0), s(75.0, K.START, 3, "ed.ward")
    # P4 leaves before the window, P5 arrives after it: neither is in the extract.
    s(2.0, K.ARRIVE, 4, 0, 0), s(2.0, K.REQUEST, 4, "ed.treatment")
    s(2.0, K.ACQUIRE, 4, "ed_space", 1), s(2.0, K.START, 4, "ed.treatment")
    s(5.0, K.END, 4, "ed.treatment"), s(5.0, K.EXIT, 4, 0), s(5.0, K.RELEASE, 4, "ed_space", 1)
    s(73.0, K.ARRIVE, 5, 0, 0)
    # P6: scan on CT-1 still running at the window end.
    s(70.0, K.ARRIVE, 6, 0, 0), s(70.0, K.REQUEST, 6, "ed.treatment")
    s(70.0, K.ACQUIRE, 6, "ed_space", 4), s(70.0, K.START, 6, "ed.treatment")
    s(71.5, K.END, 6, "ed.treatment"), s(71.5, K.REQUEST, 6, "ed.ct_scan")
    (
        s(71.9, K.ACQUIRE, 6, "ct", 0),
        s(71.9, K.START, 6, "ed.ct_scan"),
        s(72.2, K.END, 6, "ed.ct_scan"),
    )
    # CT outages: closed before the window (left out), across its start, inside, still open.
    s.device(10.0, K.FAIL, -1, 0), s.device(10.0, K.DOWN, 0, 0), s.device(15.0, K.UP, 0, 0)
    s.device(20.0, K.FAIL, -1, 1), s.device(21.0, K.DOWN, 1, 1), s.device(27.0, K.UP, 1, 1)
    s.device(40.0, K.FAIL, -1, 0), s.device(40.5, K.DOWN, 0, 0), s.device(46.0, K.UP, 0, 0)
    s.device(70.0, K.FAIL, -1, 1), s.device(73.0, K.DOWN, 1, 1)
    return s.trace(80.0)


def read(out: Path, kind: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / f"{kind}.ndjson").read_bytes().splitlines()]


@pytest.fixture(scope="module")
def out(rh1: TwinDefinition, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("story")
    write_dataset(rh1, story(rh1), 11, folder, Window.build(2, 24.0, START))
    return folder


def by_identifier(out: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {r["identifier"][0]["value"]: r for r in read(out, kind)}


def test_every_resource_is_valid_fhir(out: Path) -> None:
    for kind in RESOURCE_TYPES:
        for res in read(out, kind):
            MODELS[kind].model_validate(res)


def test_locations_and_devices(out: Path) -> None:
    locs = by_identifier(out, "Location")
    assert len(locs) == 4 + 28 + 16 + 160 + 28 + 2
    assert {"ED-07", "ED-28", "ICU-03", "MED-001", "MED-112", "SURG-21"} <= set(locs)
    assert locs["ED"]["physicalType"]["coding"][0]["code"] == "wa"
    assert locs["MED-112"]["physicalType"]["coding"][0]["code"] == "bd"
    assert locs["MED-112"]["partOf"]["reference"] == f"Location/{locs['MED']['id']}"
    assert locs["ED-WAIT"]["partOf"]["reference"] == f"Location/{locs['ED']['id']}"
    assert locs["SURG-LOUNGE"]["physicalType"]["coding"][0]["code"] == "area"
    assert "CT" not in locs and "CT-1" not in locs
    devs = by_identifier(out, "Device")
    assert sorted(devs) == ["CT-1", "CT-2"]
    assert devs["CT-1"]["location"]["reference"] == f"Location/{locs['ED']['id']}"


def _stays(enc: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [
        (e["location"]["display"], e["period"]["start"], e["period"].get("end"))
        for e in enc["location"]
    ]


def test_encounters_tell_the_story(out: Path) -> None:
    encs = read(out, "Encounter")
    patients = read(out, "Patient")
    assert len(patients) == 5  # P4 and P5 are not in the window
    ed0, ed1, imp1, imp2, ed3, ed6 = encs
    assert ed0["period"] == {"start": "2025-01-05T22:00:00Z", "end": "2025-01-06T02:00:00Z"}
    assert _stays(ed0) == [
        ("ED-WAIT", "2025-01-05T22:00:00Z", "2025-01-05T22:30:00Z"),
        ("ED-08", "2025-01-05T22:30:00Z", "2025-01-06T02:00:00Z"),
    ]
    assert ed0["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "home"
    assert ed1["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "oth"
    assert ed1["hospitalization"]["dischargeDisposition"]["text"] == "Admitted as inpatient"
    assert imp1["class"]["code"] == "IMP" and imp1["status"] == "finished"
    assert imp1["partOf"]["reference"] == f"Encounter/{ed1['id']}"
    assert imp1["hospitalization"]["admitSource"]["coding"][0]["code"] == "emd"
    assert _stays(imp1) == [
        ("ICU-03", "2025-01-06T10:00:00Z", "2025-01-07T04:00:00Z"),
        ("MED-112", "2025-01-07T04:00:00Z", "2025-01-07T12:00:00Z"),
    ]
    assert imp2["status"] == "in-progress" and "end" not in imp2["period"]
    assert imp2["hospitalization"] == {
        "admitSource": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/admit-source",
                    "code": "outp",
                    "display": "From outpatient department",
                }
            ]
        }
    }
    assert _stays(imp2) == [
        ("SURG-LOUNGE", "2025-01-07T07:00:00Z", "2025-01-07T08:00:00Z"),
        ("SURG-21", "2025-01-07T08:00:00Z", None),
    ]
    assert imp2["location"][1]["status"] == "active"
    assert ed3["status"] == "in-progress" and "hospitalization" not in ed3
    assert _stays(ed3)[-1] == ("ED-01", "2025-01-07T12:00:00Z", None)
    assert ed6["status"] == "in-progress"


def test_orders_and_procedures(out: Path) -> None:
    encs = read(out, "Encounter")
    orders = [
        (r["code"]["coding"][0]["code"], r["status"], r["authoredOn"], r["encounter"]["reference"])
        for r in read(out, "ServiceRequest")
    ]
    ed0, ed1, imp1, _, ed3, ed6 = (f"Encounter/{e['id']}" for e in encs)
    assert orders == [
        ("ct", "completed", "2025-01-06T00:30:00Z", ed0),
        ("admit-icu", "completed", "2025-01-06T08:00:00Z", ed1),
        ("transfer-ward", "completed", "2025-01-07T02:00:00Z", imp1),
        ("admit-ward", "active", "2025-01-07T14:00:00Z", ed3),
        ("ct", "active", "2025-01-07T23:30:00Z", ed6),
    ]
    sr = read(out, "ServiceRequest")
    devs = by_identifier(out, "Device")
    done, running = read(out, "Procedure")
    assert done["code"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "77477000",
        "display": "Computerized axial tomography",
    }
    assert done["performedPeriod"] == {
        "start": "2025-01-06T01:00:00Z",
        "end": "2025-01-06T01:15:00Z",
    }
    assert done["basedOn"] == [{"reference": f"ServiceRequest/{sr[0]['id']}"}]
    assert done["usedReference"][0]["reference"] == f"Device/{devs['CT-1']['id']}"
    assert done["encounter"]["reference"] == ed0 and done["status"] == "completed"
    assert running["status"] == "in-progress"
    assert running["performedPeriod"] == {"start": "2025-01-07T23:54:00Z"}


def test_work_orders(out: Path) -> None:
    with (out / "workorders.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    devs = by_identifier(out, "Device")
    assert [(r["work_order_id"], r["asset_id"]) for r in rows] == [
        ("WO-000002", "CT-2"),
        ("WO-000003", "CT-1"),
        ("WO-000004", "CT-2"),
    ]
    assert rows[0]["failure_reported"] == "2025-01-05T20:00:00Z"
    assert rows[0]["repair_start"] == "2025-01-05T21:00:00Z"
    assert rows[0]["repair_end"] == "2025-01-06T03:00:00Z"
    assert rows[1]["device_id"] == devs["CT-1"]["id"] and rows[1]["type"] == "corrective"
    assert rows[2]["repair_start"] == "" and rows[2]["repair_end"] == ""


def test_same_seed_same_bytes_and_seed_changes_people(rh1: TwinDefinition, tmp_path: Path) -> None:
    window = Window.build(2, 24.0, START)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_dataset(rh1, story(rh1), 11, a, window)
    write_dataset(rh1, story(rh1), 11, b, window)
    write_dataset(rh1, story(rh1), 12, c, window)
    for f in sorted(p.name for p in a.iterdir()):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "Patient.ndjson").read_bytes() != (c / "Patient.ndjson").read_bytes()
    # Locations and devices are the hospital's: the same whatever the seed.
    assert (a / "Location.ndjson").read_bytes() == (c / "Location.ndjson").read_bytes()
    manifest = orjson.loads((a / "synth-manifest.json").read_bytes())
    assert manifest["seed"] == 11 and manifest["start_date"] == "2025-01-06"
    assert manifest["counts"]["Patient"] == 5 and manifest["counts"]["WorkOrder"] == 3
    assert manifest["window"] == {"start": "2025-01-06T00:00:00Z", "end": "2025-01-08T00:00:00Z"}


def test_window_validation() -> None:
    with pytest.raises(ConfigError, match="Monday"):
        Window.build(2, 24.0, date(2025, 1, 7))
    with pytest.raises(ConfigError, match="at least 1"):
        Window.build(0, 24.0, START)
    with pytest.raises(ConfigError, match="whole number"):
        Window.build(2, 36.0, START)


def test_record_ids_are_uuid5() -> None:
    ids = Ids.for_run("reference-hospital", 11)
    assert ids.record_id("Encounter", 17, 2) == str(uuid.uuid5(ids.run, "Encounter/17/2"))


def test_demographics_are_plausible(out: Path) -> None:
    patients = read(out, "Patient")
    mrns = [p["identifier"][0]["value"] for p in patients]
    assert len(set(mrns)) == len(mrns)
    for p in patients:
        assert p["gender"] in ("female", "male")
        assert "1925-01-01" < p["birthDate"] <= "2025-01-06"
        assert p["name"][0]["family"] and p["address"][0]["city"]
