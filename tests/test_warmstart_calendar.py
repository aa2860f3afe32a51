"""The calendar offset: runs that start at any hour of the week, in both engines and warm starts.

The model RH1-staffed (``reference-hospital-staffed``) has ED nurse assignments by hour of week
(16 at night, 24 by day on weekdays, 20 on weekend days) and CT maintenance on Tuesday and
Thursday 05:00-08:00; a run starting at ``as_of`` must see them at their wall-clock times.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import yaml
from tests.test_fast_engine import check

from caretwin.forecast import run_forecast, state_at
from caretwin.model import REFERENCE_HOSPITAL_STAFFED, definition_from_data, example_path
from caretwin.model.definition import TwinDefinition
from caretwin.model.extensions import MaintenanceWindow
from caretwin.sim import fast
from caretwin.sim.calendar import first_change, first_window, open_at
from caretwin.sim.compiled import compile_definition
from caretwin.sim.engine import Engine
from caretwin.sim.runner import trace_run
from caretwin.sim.state import InvalidState, check_state, parse_state
from caretwin.sim.trace import EventKind, Trace, TraceRecorder
from caretwin.sim.warmstart import compile_state, forecast_model, run_from_state

SAT_2130 = 5 * 24 + 21.5  # hour of week of a Saturday 21:30


def staffed_data(**run: float) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(example_path(REFERENCE_HOSPITAL_STAFFED).read_text())
    data["run"].update(run)
    return data


def staffed(**run: float) -> TwinDefinition:
    return definition_from_data(staffed_data(**run))


def warm_trace(defn: TwinDefinition, state: dict[str, Any], hours: float, seed: int = 1) -> Trace:
    st = parse_state(state)
    check_state(st, defn)
    model = forecast_model(compile_definition(defn), hours)
    rec = TraceRecorder()
    run_from_state(model, compile_state(st, model), seed, 0, trace=rec)
    return rec.finish(
        [s.name for s in model.steps], [r.name for r in model.resources], [], [], hours
    )


def test_calendar_helpers_at_offset_zero_and_elsewhere() -> None:
    model = compile_definition(staffed())
    nurse = next(r for r in model.resources if r.name == "ed_nurse")
    assert open_at(nurse, 0.0) == 16  # Monday 00:00
    assert open_at(nurse, 8.0) == 24  # Monday 08:00: the change at the start is in force
    assert open_at(nurse, SAT_2130) == 16
    assert open_at(nurse, 5 * 24 + 12.25) == 20  # Saturday noon
    i, t = first_change(nurse, SAT_2130)
    assert nurse.schedule[i] == (6 * 24 + 8, 20) and t == pytest.approx(10.5)  # Sunday 08:00
    i, t = first_change(nurse, 6 * 24 + 20.0)  # Sunday 20:00 (a change) -> Monday 08:00
    assert nurse.schedule[i] == (8, 24) and t == 12.0
    win = MaintenanceWindow(every_days=7, first_day=1, start_hour=5, duration_h=3)
    assert first_window(win, 0.0) == 29.0  # a cold run: Tuesday 05:00 of its first week
    assert first_window(win, 29.0) == 0.0  # at or after the start
    assert first_window(win, 29.0, warm=True) == 168.0  # strictly after: that one is the state's
    assert first_window(win, 30.5, warm=True) == 166.5
    far = MaintenanceWindow(every_days=7, first_day=15, start_hour=5, duration_h=3)
    assert first_window(far, 30.5, warm=True) == 166.5  # a warm start: the calendar runs back
    assert first_window(far, 30.5) == 15 * 24 + 5 - 30.5  # a cold one starts on first_day


@pytest.mark.skipif(not fast.available(), reason="numba is not installed")
@pytest.mark.parametrize("offset", [SAT_2130, 29.0, 100.37])
def test_engines_are_bit_identical_with_an_offset_start(offset: float) -> None:
    model = compile_definition(staffed(warmup_days=2, run_days=12, cooldown_days=1))
    check(dataclasses.replace(model, calendar_offset_h=offset), 20260101, range(2))


def test_an_offset_shifts_the_calendar_not_the_randomness() -> None:
    """A cold run started one week later on the calendar is the same run: every calendar
    lookup is weekly, so offset 168 changes nothing but the float rounding of t + offset."""
    model = compile_definition(staffed(warmup_days=2, run_days=6, cooldown_days=1))
    a = Engine(model, 3, 0).run()
    b = Engine(dataclasses.replace(model, calendar_offset_h=168.0), 3, 0).run()
    c = Engine(dataclasses.replace(model, calendar_offset_h=SAT_2130), 3, 0).run()
    assert b.kpis["ed_patients"] == a.kpis["ed_patients"]
    assert b.kpis["ed_wait_mean_h"] == pytest.approx(a.kpis["ed_wait_mean_h"], rel=1e-6)
    assert c.kpis["ed_wait_mean_h"] != a.kpis["ed_wait_mean_h"]


def nurse_acquires(tr: Trace) -> dict[float, int]:
    r = tr.resource_names.index("ed_nurse")
    times = tr.time[(tr.kind == EventKind.ACQUIRE) & (tr.ref == r)]
    values, counts = np.unique(times, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def test_warm_start_applies_the_staffing_of_its_hour_of_week() -> None:
    """A queue that never empties: every nurse assignment that opens is taken at that instant,
    so the ACQUIREs at a shift change count the assignments it opens."""
    data = staffed_data()
    data["resources"]["ed_space"]["capacity"] = 400  # spaces never limit: only nurses do
    defn = definition_from_data(data)
    queue = {"step": "ed.treatment", "status": "waiting", "elapsed_h": 0.5, "count": 300}
    tr = warm_trace(defn, {"as_of": "2026-03-07T21:30:00", "patients": [queue]}, 72)
    got = nurse_acquires(tr)
    assert got[0.0] == 16  # Saturday 21:30: the night shift's 16 assignments
    assert got[10.5] == 4  # Sunday 08:00: 16 -> 20 (a weekend day)
    assert got[58.5] == 8  # Monday 08:00: 16 -> 24
    # the same state a week later on the calendar is the same run
    again = warm_trace(defn, {"hour_of_week": SAT_2130, "patients": [queue]}, 72)
    assert again.time.tolist() == tr.time.tolist()
    # and on Wednesday 07:30 the rise is half an hour away
    wed = warm_trace(defn, {"hour_of_week": 2 * 24 + 7.5, "patients": [queue]}, 30)
    assert nurse_acquires(wed)[0.0] == 16 and nurse_acquires(wed)[0.5] == 8


def quiet_ct() -> TwinDefinition:
    """RH1-staffed without ED arrivals or CT failures: the CT pool only sees its maintenance."""
    data = staffed_data()
    data["arrivals"]["ed"]["rates"] = [0.0] * 24
    del data["resources"]["ct"]["failures"]
    return definition_from_data(data)


def ct_outages(tr: Trace) -> list[tuple[str, float, int]]:
    r = tr.resource_names.index("ct")
    out = []
    for kind in (EventKind.DOWN, EventKind.UP):
        sel = (tr.kind == kind) & (tr.ref == r)
        out += [(kind.name, t, a) for t, a in zip(tr.time[sel], tr.aux[sel], strict=True)]
    return sorted(out, key=lambda x: x[1])


def test_maintenance_windows_at_their_wall_clock_time_and_from_the_state() -> None:
    defn = quiet_ct()
    # Tuesday 06:30: scanner out since 05:00 (window 0) is back at 08:00; Thursday 05:00 the
    # other window (aux -3) takes a unit; the next Tuesday 05:00 window 0 again
    state = {
        "hour_of_week": 30.5,
        "devices": [{"resource": "ct", "status": "maintenance", "window": 0, "elapsed_h": 1.5}],
    }
    tr = warm_trace(defn, state, 170)
    assert ct_outages(tr) == [
        ("DOWN", 0.0, -2),
        ("UP", 1.5, -2),
        ("DOWN", 46.5, -3),
        ("UP", 49.5, -3),
        ("DOWN", 166.5, -2),
        ("UP", 169.5, -2),
    ]
    # capture: a cold run to Tuesday 06:30 puts that unit in the state, and a forecast from it
    # starts with one scanner out
    cold = trace_run(defn, 4, 30.5)
    st = state_at(cold, 30.5)
    assert [d.model_dump() for d in st.devices] == [
        {"resource": "ct", "status": "maintenance", "elapsed_h": 1.5, "count": 1, "window": 0}
    ]
    assert ct_outages(warm_trace(defn, st.model_dump(), 170)) == ct_outages(tr)


def test_units_held_beyond_the_open_staffing_close_as_they_are_handed_back() -> None:
    defn = staffed()
    # Monday 03:00: 16 assignments open, but the state has 20 patients in treatment
    busy = {
        "step": "ed.treatment",
        "status": "in_service",
        "elapsed_h": 0.2,
        "holds": ["ed_space", "ed_nurse"],
        "count": 20,
    }
    f = run_forecast(
        defn, parse_state({"hour_of_week": 3.0, "patients": [busy]}), 4, replications=20
    )
    nurse = f.resources.index("ed_nurse")
    assert (f.census[:, 0, nurse] == 20).all()
    assert (f.census[:, 1:, nurse] <= 20).all() and (f.census[:, 4, nurse] <= 16).all()


def test_maintenance_state_problems_are_named() -> None:
    defn = staffed()
    bad = {
        "hour_of_week": 1,
        "devices": [
            {"resource": "ct", "status": "maintenance", "window": 2},
            {"resource": "ed_space", "status": "maintenance"},
        ],
    }
    with pytest.raises(InvalidState) as err:
        check_state(parse_state(bad), defn)
    assert err.value.problems == [
        ("devices[0].window", "ct has 2 maintenance window(s)"),
        ("devices[1].window", "ed_space has 0 maintenance window(s)"),
    ]
