"""End to end: RH1 through the real engine into FHIR R4 NDJSON, checked for validity and sense.

FHIR validity uses ``fhir.resources.R4B`` (R4B is the R4 errata release; the resource structures
written here are identical in R4). The plausibility bounds are wide enough for Monte Carlo noise
over three weeks (~3,100 ED visits) but tight enough to catch a wrong mapping.
"""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
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
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.cli.app import app
from caretwin.errors import AccessDenied
from caretwin.model import example_path, load_definition
from caretwin.services.context import ServiceContext
from caretwin.services.synth import synthesize
from caretwin.synth import RESOURCE_TYPES, generate
from caretwin.workspace import Workspace

DAYS = 21
INF = "9999"  # sorts after every timestamp: an open interval's end
MODELS: dict[str, Any] = {
    "Patient": Patient,
    "Location": Location,
    "Encounter": Encounter,
    "ServiceRequest": ServiceRequest,
    "Procedure": Procedure,
    "Device": Device,
}
Res = dict[str, Any]


def read(out: Path, kind: str) -> list[Res]:
    return [orjson.loads(line) for line in (out / f"{kind}.ndjson").read_bytes().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("rh1")
    report = generate(load_definition(example_path("reference-hospital")), DAYS, 5, out)
    res: dict[str, Any] = {kind: read(out, kind) for kind in RESOURCE_TYPES}
    with (out / "workorders.csv").open(newline="") as fh:
        res["workorders"] = list(csv.DictReader(fh))
    res["report"] = report
    res["start"], res["end"] = report.window_start, report.window_end
    return res


def ref_id(ref: Res) -> str:
    return str(ref["reference"].split("/", 1)[1])


def test_sample_of_each_type_is_valid_fhir_r4(data: dict[str, Any]) -> None:
    for kind in RESOURCE_TYPES:
        rows = data[kind]
        open_ones = [r for r in rows if r.get("status") in ("in-progress", "active")]
        for res in rows[:300] + open_ones[:100]:
            MODELS[kind].model_validate(res)


def test_counts_are_plausible_for_rh1(data: dict[str, Any]) -> None:
    start, end = data["start"], data["end"]
    in_window = [e for e in data["Encounter"] if start <= e["period"]["start"] < end]
    ed = [e for e in in_window if e["class"]["code"] == "EMER"]
    assert 130 <= len(ed) / DAYS <= 165  # RH1: 147 per day
    electives = [
        e
        for e in in_window
        if e.get("hospitalization", {}).get("admitSource", {})
        and e["hospitalization"]["admitSource"]["coding"][0]["code"] == "outp"
    ]
    assert len(electives) == 12 * 15  # 12 at 07:00 on each of the 15 weekdays
    finished = [e for e in ed if e["status"] == "finished"]
    admitted = [
        e
        for e in finished
        if e["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "oth"
    ]
    assert 0.21 <= len(admitted) / len(finished) <= 0.29  # RH1: 25%
    ed_ids = {e["id"] for e in ed}
    scanned = {ref_id(p["encounter"]) for p in data["Procedure"]} & ed_ids
    assert 0.31 <= len(scanned) / len(ed) <= 0.39  # RH1: 35% need CT
    assert data["report"].counts["Location"] == 238 and data["report"].counts["Device"] == 2


def test_location_periods_tile_each_encounter(data: dict[str, Any]) -> None:
    by_id = {e["id"]: e for e in data["Encounter"]}
    for enc in data["Encounter"]:
        stays = enc["location"]
        assert enc["period"]["start"] == stays[0]["period"]["start"]
        for a, b in itertools.pairwise(stays):
            assert a["period"]["end"] == b["period"]["start"]
        assert enc["period"].get("end") == stays[-1]["period"].get("end")
        assert (enc["status"] == "finished") == ("end" in enc["period"])
        if enc["class"]["code"] == "EMER":
            assert stays[0]["location"]["display"] == "ED-WAIT"
            assert all(s["location"]["display"].startswith("ED-") for s in stays)
        if "partOf" in enc:  # the bed is assigned the instant the patient leaves the ED
            assert by_id[ref_id(enc["partOf"])]["period"]["end"] == enc["period"]["start"]
            assert enc["hospitalization"]["admitSource"]["coding"][0]["code"] == "emd"


def test_no_bed_holds_two_patients_at_once(data: dict[str, Any]) -> None:
    spans: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for enc in data["Encounter"]:
        for s in enc["location"]:
            name = s["location"]["display"]
            if not name.endswith(("WAIT", "LOUNGE")):
                spans[name].append((s["period"]["start"], s["period"].get("end", INF)))
    for name, items in spans.items():
        items.sort()
        for (_, end), (start, _) in itertools.pairwise(items):
            assert end <= start, name


def test_procedures_orders_and_devices_agree(data: dict[str, Any]) -> None:
    encs = {e["id"]: e for e in data["Encounter"]}
    orders = {s["id"]: s for s in data["ServiceRequest"]}
    devices = {d["id"]: d["identifier"][0]["value"] for d in data["Device"]}
    busy: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for p in data["Procedure"]:
        enc = encs[ref_id(p["encounter"])]
        order = orders[ref_id(p["basedOn"][0])]
        period = p["performedPeriod"]
        assert enc["class"]["code"] == "EMER" and order["code"]["coding"][0]["code"] == "ct"
        assert enc["period"]["start"] <= order["authoredOn"] <= period["start"]
        assert (p["status"] == "completed") == (order["status"] == "completed") == ("end" in period)
        bed = enc["location"][1]["period"]  # the scan happens while the ED space is kept
        assert bed["start"] <= period["start"] and period.get("end", INF) <= bed.get("end", INF)
        busy[devices[ref_id(p["usedReference"][0])]].append(
            (period["start"], period.get("end", INF))
        )
    for wo in data["workorders"]:
        assert wo["asset_id"] in devices.values() and devices[wo["device_id"]] == wo["asset_id"]
        assert wo["repair_start"] == "" or wo["failure_reported"] <= wo["repair_start"]
        assert wo["repair_end"] == "" or wo["repair_start"] <= wo["repair_end"]
        if wo["repair_start"]:
            busy[wo["asset_id"]].append((wo["repair_start"], wo["repair_end"] or INF))
    for asset, items in busy.items():  # no scan overlaps another scan or a repair
        items.sort()
        for (_, end), (start, _) in itertools.pairwise(items):
            assert end <= start, asset


def test_bed_requests_match_the_bed_given(data: dict[str, Any]) -> None:
    imps = {
        ref_id(e["partOf"]): e
        for e in data["Encounter"]
        if e["class"]["code"] == "IMP" and "partOf" in e
    }
    by_id = {e["id"]: e for e in data["Encounter"]}
    codes: defaultdict[str, int] = defaultdict(int)
    for sr in data["ServiceRequest"]:
        code = sr["code"]["coding"][0]["code"]
        codes[code] += 1
        enc = by_id[ref_id(sr["encounter"])]
        if code.startswith("admit-"):
            assert enc["class"]["code"] == "EMER"
            imp = imps.get(enc["id"])
            assert (imp is not None) == (sr["status"] == "completed")
            if imp is not None:
                first_bed = imp["location"][0]["location"]["display"]
                assert first_bed.startswith("ICU-" if code == "admit-icu" else "MED-")
                assert sr["authoredOn"] <= imp["period"]["start"]
        elif code == "transfer-ward":
            assert enc["class"]["code"] == "IMP"
            assert enc["location"][0]["location"]["display"].startswith("ICU-")
    assert set(codes) == {"ct", "admit-icu", "admit-ward", "transfer-ward"}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    defn = load_definition(example_path("reference-hospital"))
    a = generate(defn, 7, 9, tmp_path / "a", warmup_days=7)
    b = generate(defn, 7, 9, tmp_path / "b", warmup_days=7)
    assert a.files == b.files
    for f in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    c = generate(defn, 7, 10, tmp_path / "c", warmup_days=7)
    assert c.files["Encounter.ndjson"] != a.files["Encounter.ndjson"]


def test_service_audits_and_checks_permission(workspace: Workspace, tmp_path: Path) -> None:
    ctx = ServiceContext(workspace, Actor.os_user())
    report = synthesize(
        ctx,
        "reference-hospital",
        days=2,
        seed=1,
        out_dir=tmp_path / "o",
        warmup_days=0,
        start_date=date(2025, 3, 3),
    )
    assert report.window_start == "2025-03-03T00:00:00Z"
    entry = AuditLog(workspace).list(action="data.synth")[0]
    assert entry.outcome == "ok" and entry.details["counts"] == report.counts
    assert entry.details["model_hash"] == report.model_hash
    clinician = ServiceContext(workspace, Actor("dr", frozenset({"clinician"})))
    with pytest.raises(AccessDenied):
        synthesize(clinician, "reference-hospital", days=1, seed=1, out_dir=tmp_path / "x")
    assert AuditLog(workspace).list(action="data.synth")[0].outcome == "denied"


def test_cli(workspace: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "synth",
        "-w",
        str(workspace.root),
        "--model",
        "reference-hospital",
        "--days",
        "1",
        "--seed",
        "2",
        "--warmup-days",
        "0",
        "--out",
        str(tmp_path / "o"),
    ]
    ok = runner.invoke(app, [*args, "--format", "json"])
    assert ok.exit_code == 0, ok.output
    assert orjson.loads(ok.stdout)["counts"]["Device"] == 2
    bad = runner.invoke(app, [*args, "--start-date", "2025-01-07"])
    assert bad.exit_code == 2 and "Monday" in bad.output


def test_a_generated_folder_ingests_without_quarantine(tmp_path: Path) -> None:
    """The folder `caretwin synth` writes is ingested whole: every resource and work order
    lands, and its synth-manifest.json is recognised as a description, not bad data."""
    from caretwin.ingest import ingest_paths
    from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
    from caretwin.synth import generate

    data = tmp_path / "data"
    rep = generate(load_definition(example_path(REFERENCE_HOSPITAL)), 7, 2, data, warmup_days=7)
    report = ingest_paths(tmp_path / "lake", [data])
    assert report.quarantined == 0
    assert report.added == sum(rep.counts.values())
