"""Calibration's SQL extraction, step mapping and observed KPIs on a small hand-built lake.

The lake holds four ED visits, one ICU admission with a step-down, one boarder still waiting, one
elective patient and two CT work orders, written as Parquet files in the contract's layout, so
every expected number below can be checked by hand.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from caretwin.calibrate import calibrate_lake, observed_kpis
from caretwin.calibrate.extract import extract
from caretwin.calibrate.fit import data_hash, hours
from caretwin.calibrate.kpis import OCCUPANCY_UNITS, occupancy_units
from caretwin.calibrate.mapping import classify
from caretwin.calibrate.observations import censor_time, data_end, observe
from caretwin.calibrate.params import fit_failures
from caretwin.errors import CalibrationError
from caretwin.lake import EMPTY_HASH, SCHEMAS, Lake, LakeWriter
from caretwin.model import (
    REFERENCE_HOSPITAL,
    definition_from_data,
    example_path,
    load_definition,
)

T0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday


def at(h: float | None) -> datetime | None:
    return None if h is None else T0 + timedelta(hours=h)


def _loc(lid: str, ptype: str, part_of: str | None) -> dict[str, Any]:
    return {"location_id": lid, "identifier": lid, "name": lid, "physical_type": ptype,
            "part_of": part_of, "status": "active"}  # fmt: skip


def _enc(eid: str, cls: str, start: float, end: float | None, **kw: Any) -> dict[str, Any]:
    return {"encounter_id": eid, "patient_id": "p-" + eid, "class_code": cls,
            "status": "finished" if end is not None else "in-progress", "start": at(start),
            "end": at(end), "part_of": kw.get("part_of"), "admit_source": kw.get("src"),
            "discharge_disposition": kw.get("disp")}  # fmt: skip


def _mov(eid: str, seq: int, loc: str, start: float, end: float | None) -> dict[str, Any]:
    return {"encounter_id": eid, "seq": seq, "location_id": loc, "status": "completed",
            "start": at(start), "end": at(end)}  # fmt: skip


def _sr(rid: str, eid: str, code: str, t: float) -> dict[str, Any]:
    return {"request_id": rid, "patient_id": "p", "encounter_id": eid, "code_system": "x",
            "code": code, "status": "completed", "authored_on": at(t)}  # fmt: skip


def _wo(wid: str, asset: str, f: float, rs: float | None, re: float | None) -> dict[str, Any]:
    return {"work_order_id": wid, "asset_id": asset, "device_id": "dev-" + asset,
            "type": "corrective", "failure_reported": at(f), "repair_start": at(rs),
            "repair_end": at(re)}  # fmt: skip


TABLES: dict[str, list[dict[str, Any]]] = {
    "locations": [
        *[_loc(u, "wa", None) for u in ("ED", "ICU", "MED", "SURG")],
        _loc("ED-WAIT", "area", "ED"), _loc("SURG-LOUNGE", "area", "SURG"),
        _loc("ED-01", "bd", "ED"), _loc("ED-02", "bd", "ED"), _loc("ICU-01", "bd", "ICU"),
        _loc("MED-01", "bd", "MED"), _loc("MED-02", "bd", "MED"), _loc("SURG-01", "bd", "SURG"),
    ],
    "devices": [
        {"device_id": "dev-" + d, "identifier": d, "type_code": "ct", "type_display": "CT",
         "location_id": "ED", "status": "active"} for d in ("CT-1", "CT-2")
    ],
    "encounters": [
        _enc("e1", "EMER", 8, 11, disp="home"),
        _enc("e2", "EMER", 9, 12, disp="oth"),
        _enc("e3", "EMER", 10, None),
        _enc("e4", "EMER", 20, None),
        _enc("i2", "IMP", 12, 100, part_of="e2", src="emd", disp="home"),
        _enc("s1", "IMP", 31, 80, src="outp", disp="home"),
    ],
    "movements": [
        _mov("e1", 0, "ED-WAIT", 8, 8.5), _mov("e1", 1, "ED-01", 8.5, 11),
        _mov("e2", 0, "ED-WAIT", 9, 9), _mov("e2", 1, "ED-02", 9, 12),
        _mov("e3", 0, "ED-WAIT", 10, 10), _mov("e3", 1, "ED-01", 10, None),
        _mov("e4", 0, "ED-WAIT", 20, None),
        _mov("i2", 0, "ICU-01", 12, 40), _mov("i2", 1, "MED-01", 40, 100),
        _mov("s1", 0, "SURG-LOUNGE", 31, 33), _mov("s1", 1, "SURG-01", 33, 80),
    ],
    "service_requests": [
        _sr("r-ct", "e2", "ct", 10), _sr("r-adm", "e2", "admit-icu", 11 + 35 / 60),
        _sr("r-adm3", "e3", "admit-ward", 13), _sr("r-tr", "i2", "transfer-ward", 36),
    ],
    "procedures": [
        {"procedure_id": "x1", "patient_id": "p", "encounter_id": "e2", "code_system": "sct",
         "code": "77477000", "status": "completed", "start": at(10.25), "end": at(10 + 35 / 60),
         "device_id": "dev-CT-1", "based_on": "r-ct"}
    ],
    "work_orders": [_wo("w1", "CT-1", 50, 50.5, 56), _wo("w2", "CT-2", 70, 70, None)],
}  # fmt: skip


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake_dir = tmp_path / "lake"
    with LakeWriter(lake_dir) as writer:
        for name, rows in TABLES.items():
            writer.append(name, pa.Table.from_pylist(rows, schema=SCHEMAS[name]))
        writer.commit(EMPTY_HASH, None)
    return Lake(lake_dir)


def test_extract_columns(lake: Lake) -> None:
    ex = extract(lake)
    ed = {k: dict(zip(ex.ed["id"], v, strict=True)) for k, v in ex.ed.items()}
    h0 = hours(date(2025, 1, 6))
    assert ed["space_start"]["e1"] - h0 == pytest.approx(8.5)
    assert math.isnan(ed["space_start"]["e4"])
    assert ed["proc_unit"]["e2"] == "CT" and ed["admit_unit"]["e2"] == "ICU"
    assert ed["admit_unit"]["e3"] == "MED" and math.isnan(ed["departure"]["e3"])
    beds = ex.beds
    assert list(beds["unit"]) == ["ICU", "MED", "SURG"]
    assert list(beds["after"]) == ["ED", "ICU", ""]
    assert beds["transfer"][0] - h0 == pytest.approx(36)
    assert math.isnan(beds["transfer"][1])  # the ward bed starts at the order: not its end
    assert ex.capacity == {"ED": 2, "ICU": 1, "MED": 2, "SURG": 1, "CT": 2}
    assert ex.elective["arrival"] - h0 == pytest.approx([31])


def test_step_durations_and_branches(lake: Lake) -> None:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    roles = classify(defn)
    assert {k: r.role for k, r in roles.items() if r.role != "decision"} == {
        "ed.treatment": "space", "ed.ct_scan": "procedure", "ed.ct_review": "post_procedure",
        "ed.icu": "bed", "ed.stepdown": "bed", "ed.ward": "bed", "elective.surgical_stay": "bed",
    }  # fmt: skip
    assert (roles["ed.stepdown"].unit, roles["ed.stepdown"].after) == ("MED", "ICU")
    s, e = hours(date(2025, 1, 6)), hours(date(2025, 1, 11))
    obs = observe(extract(lake), defn, s, e)
    d = {k: sorted(np.round(v, 4)) for k, v in obs.durations.items()}
    assert d["ed.treatment"] == [1.0, 2.5, 3.0]
    assert d["ed.ct_scan"] == [pytest.approx(1 / 3, abs=1e-4)]
    assert d["ed.ct_review"] == [1.0]
    assert d["ed.icu"] == [24.0] and d["ed.stepdown"] == [60.0] and d["ed.ward"] == []
    assert d["elective.surgical_stay"] == [47.0]
    assert obs.branches == {
        ("ed.treatment", "ct_scan"): 1, ("ed.treatment", "disposition"): 2,
        ("ed.disposition", "exit"): 1, ("ed.disposition", "admit"): 2,
        ("ed.admit", "icu"): 1, ("ed.admit", "ward"): 1, ("ed.icu", "stepdown"): 1,
    }  # fmt: skip


def test_window_end_censors_later_events(lake: Lake) -> None:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    s = hours(date(2025, 1, 6))
    obs = observe(extract(lake), defn, s, s + 30)  # the ICU stay ends (transfer) at 36 h
    assert obs.durations["ed.icu"].size == 0 and obs.open_counts["ed.icu"] == 1
    assert ("ed.icu", "stepdown") not in obs.branches
    # ... and enters the fit right-censored: in the ICU bed from 12 h, still there at 30 h
    assert list(obs.censored["ed.icu"]) == [pytest.approx(18.0)]
    early = observe(extract(lake), defn, s, s + 11)  # e1 leaves at 11 h, e3's order is at 13 h
    assert sorted(early.durations["ed.treatment"]) == [pytest.approx(1.0)]  # e2: 9 h -> CT order
    assert sorted(early.censored["ed.treatment"]) == [pytest.approx(1.0), pytest.approx(2.5)]


def test_open_intervals_are_censored_at_the_end_of_the_data(lake: Lake) -> None:
    ex = extract(lake)
    s = hours(date(2025, 1, 6))
    assert data_end(ex) == pytest.approx(s + 100)  # the step-down's discharge
    assert censor_time(ex, s + 30) == s + 30
    assert censor_time(ex, s + 1000) == pytest.approx(s + 100)  # not a window end never seen


def test_device_failures_from_work_orders(lake: Lake) -> None:
    ex = extract(lake)
    s = hours(date(2025, 1, 6))
    problems: list[str] = []
    value, diag = fit_failures(ex.work, "CT", 2, s, s + 120, 30, problems, "resources.ct")
    assert value is None
    # 2 clocks x 120 h, minus 50->56 (repaired) and 70->120 (open, truncated at the span end)
    assert diag == {"failures": 2, "repairs": 1, "exposure_h": pytest.approx(240 - 6 - 50)}
    assert any("time_to_failure: 2 failures" in p for p in problems)
    assert any("repair: 1 completed repairs" in p for p in problems)


def test_thin_data_refused_with_the_list(lake: Lake) -> None:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    with pytest.raises(CalibrationError) as err:
        calibrate_lake(lake, defn, date(2025, 1, 6), date(2025, 1, 11))
    problems = err.value.details["problems"]
    assert "pathways.ed.treatment.duration: 3 observed durations (< 30)" in problems
    assert any(p.startswith("pathways.ed.admit.next") for p in problems)
    assert any(p.startswith("resources.ct.failures.repair") for p in problems)


def test_observed_kpis(lake: Lake) -> None:
    k = observed_kpis(lake, date(2025, 1, 6), date(2025, 1, 7))
    assert k["ed_wait_mean_h"] == pytest.approx(0.5 / 3)
    assert k["ed_los_mean_h"] == pytest.approx(3.0) and k["ed_patients"] == 2
    assert k["ed_los_over_4h_pct"] == 0.0
    assert k["boarding_mean_h"] == pytest.approx(25 / 60)
    assert k["ct_wait_mean_h"] == pytest.approx(0.25)
    assert k["icu_stepdown_block_mean_h"] == pytest.approx(4.0)
    assert k["icu_occupancy_mean"] == pytest.approx(0.5)  # ICU-01 held 12:00-24:00
    assert math.isnan(k["surgical_wait_mean_h"])  # the elective arrives on day 2
    week = observed_kpis(lake, date(2025, 1, 6), date(2025, 1, 11))
    assert week["surgical_wait_mean_h"] == pytest.approx(2.0)
    assert week["ward_occupancy_mean"] == pytest.approx(60 / 120)


def test_occupancy_kpis_follow_the_template(lake: Lake) -> None:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    assert occupancy_units(defn) == OCCUPANCY_UNITS  # the default is RH1's table
    d, e = date(2025, 1, 6), date(2025, 1, 11)
    assert observed_kpis(lake, d, e, defn) == observed_kpis(lake, d, e)
    data = defn.to_data()
    data["kpis"]["surgical_occupancy_mean"] = {"type": "occupancy", "resource": "surgical_bed"}
    data["kpis"]["ct_busy"] = {"type": "occupancy", "resource": "ct"}  # a device: not a bed
    del data["kpis"]["icu_occupancy_mean"]
    other = definition_from_data(data, source="test")
    assert occupancy_units(other) == {
        "ward_occupancy_mean": "MED",
        "surgical_occupancy_mean": "SURG",
    }
    k = observed_kpis(lake, d, e, other)
    assert "icu_occupancy_mean" not in k and "ct_busy" not in k
    assert k["surgical_occupancy_mean"] == pytest.approx(47 / 120)  # SURG-01 held 33 h -> 80 h


def test_data_hash_falls_back_to_parquet_files(lake: Lake) -> None:
    digest = data_hash(lake)
    assert len(digest) == 64 and digest != EMPTY_HASH
    assert data_hash(lake) == digest
