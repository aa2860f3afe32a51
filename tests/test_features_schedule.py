"""Capacity schedules by hour of week: no pre-emption when capacity drops, waiting patients
served at once when it rises, and the utilisation KPI against the open capacity."""

from __future__ import annotations

import pytest
from tests.test_features_helpers import batch, events, fixed, model

from caretwin.errors import DefinitionError
from caretwin.sim.runner import simulate
from caretwin.sim.trace import EventKind

STEP = {"steps": [{"id": "treat", "acquire": ["room"], "duration": fixed(2)}]}
# 4 rooms open 0-12 every day, 1 room 12-24
DAY_NIGHT = [{"from_hour": 12, "to_hour": 24, "capacity": 1}]


def test_drop_is_not_preemptive_and_rise_serves_waiting_at_once() -> None:
    d = model(
        {"room": {"capacity": 4, "schedule": DAY_NIGHT}},
        {
            "a": batch("p", 11, 4),  # 4 start at 11, still busy when capacity drops at 12
            "b": batch("p", 12.5, 2),  # wait: only 1 room open after the 4 finish at 13
            "c": batch("p", 22, 3),  # 1 starts at 22, 2 wait until capacity rises at 24
        },
        {"p": STEP},
    )
    starts = sorted(t for t, _ in events(d, EventKind.START))
    assert starts == [11, 11, 11, 11, 13, 15, 22, 24, 24]


def test_hour_list_and_windows_are_the_same_schedule() -> None:
    hourly = ([4] * 12 + [1] * 12) * 7
    arrivals = {"in": {"type": "poisson", "pathway": "p", "rates": [1.0] * 24}}
    kpis = {
        "util": {"type": "utilisation", "resource": "room"},
        "busy": {"type": "occupancy", "resource": "room"},
        "wait": {"type": "wait", "steps": ["p.treat"]},
    }
    a = model({"room": {"capacity": 4, "schedule": DAY_NIGHT}}, arrivals, {"p": STEP}, kpis, 14)
    b = model({"room": {"capacity": 4, "schedule": hourly}}, arrivals, {"p": STEP}, kpis, 14)
    ra, rb = simulate(a, replications=2, seed=3), simulate(b, replications=2, seed=3)
    assert [r.kpis for r in ra.replications] == [r.kpis for r in rb.replications]
    for r in ra.replications:
        # whole days in the window: mean open capacity is (4 * 12 + 1 * 12) / 24 = 2.5
        assert r.kpis["util"] == pytest.approx(100 * r.kpis["busy"] / 2.5)
    # the night closure makes patients wait, the unscheduled pool does not
    c = model({"room": {"capacity": 4}}, arrivals, {"p": STEP}, kpis, 14)
    assert simulate(c, replications=2, seed=3).summary["wait"].mean < ra.summary["wait"].mean


def test_schedule_problems_are_named_by_field_path() -> None:
    with pytest.raises(DefinitionError) as err:
        model(
            {"room": {"capacity": 2, "schedule": [{"from_hour": 7, "to_hour": 23, "capacity": 3}]}},
            {"a": batch("p", 1, 1)},
            {"p": STEP},
        )
    assert ("resources.room.schedule[0].capacity", "3 is more than the pool's capacity 2") in (
        err.value.problems
    )
    with pytest.raises(DefinitionError) as err:
        model({"room": {"capacity": 2, "schedule": [1] * 24}}, {"a": batch("p", 1, 1)}, {"p": STEP})
    assert err.value.problems == [("resources.room.schedule", "needs 168 hourly values, got 24")]
