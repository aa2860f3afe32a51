"""Priority queues, leaving without being seen (patience), and acquiring several resources
together (`acquire_mode: all`) with one of them released after part of the stay."""

from __future__ import annotations

from typing import Any

import pytest
from tests.test_features_helpers import batch, events, fixed, model, trace

from caretwin.errors import DefinitionError
from caretwin.sim.runner import simulate
from caretwin.sim.trace import EventKind


def _two_classes(low_priority: int) -> dict[str, Any]:
    return {
        "low": {
            "steps": [
                {"id": "s", "acquire": ["bed"], "priority": low_priority, "duration": fixed(1)}
            ]
        },
        "high": {"steps": [{"id": "s", "acquire": ["bed"], "duration": fixed(1)}]},
    }


def test_lower_priority_value_is_served_first_fifo_within() -> None:
    arrivals = {"low": batch("low", 1, 3), "high": batch("high", 1.5, 2)}
    tr = trace(model({"bed": {"capacity": 1}}, arrivals, _two_classes(1)))
    rows = tr.kind == EventKind.START
    order = [tr.pathway_names[tr.ref[i] // 1] for i in rows.nonzero()[0]]  # step index -> pw
    starts = tr.time[rows].tolist()
    pids = tr.entity[rows].tolist()
    # patients 0-2 low (arrived at 1), 3-4 high (1.5): 0 first, then both high, then 1, 2
    assert pids == [0, 3, 4, 1, 2] and starts == [1, 2, 3, 4, 5], (order, pids, starts)
    # default priorities: pure FIFO by request time
    tr = trace(model({"bed": {"capacity": 1}}, arrivals, _two_classes(0)))
    assert tr.entity[tr.kind == EventKind.START].tolist() == [0, 1, 2, 3, 4]


def _lwbs_model(patience: float) -> Any:
    return model(
        {"ed": {"capacity": 1}, "doctor": {"capacity": 1}},
        {"a": batch("p", 1, 3)},
        {
            "p": {
                "steps": [
                    {"id": "triage", "acquire": ["ed"], "duration": fixed(0.1), "next": "seen"},
                    {
                        "id": "seen",
                        "acquire": ["doctor"],
                        "release_on_acquire": ["ed"],
                        "patience": fixed(patience),
                        "duration": fixed(2),
                    },
                ]
            }
        },
        {
            "lwbs_pct": {"type": "reneged", "steps": ["p.seen"]},
            "lwbs": {"type": "reneged", "steps": ["p.seen"], "stat": "count"},
        },
    )


def test_patience_runs_out_releasing_what_is_held() -> None:
    d = _lwbs_model(patience=1.0)
    tr = trace(d)
    # patient 0 holds ed 1.0-1.1 then the doctor 1.1-3.1; patient 1 gets ed at 1.1, asks for the
    # doctor at 1.2 (keeping ed) and leaves at 2.2 releasing the ed space, which patient 2 gets
    # at 2.2; patient 2 asks for the doctor at 2.3 and is seen at 3.1, before its patience ends.
    exits = dict(
        zip(
            tr.entity[tr.kind == EventKind.EXIT].tolist(),
            tr.time[tr.kind == EventKind.EXIT].tolist(),
            strict=True,
        )
    )
    assert exits[1] == pytest.approx(2.2)
    releases = [
        (round(t, 6), e)
        for t, e, k, r in zip(
            tr.time.tolist(), tr.entity.tolist(), tr.kind.tolist(), tr.ref.tolist(), strict=True
        )
        if k == EventKind.RELEASE and r == 0
    ]
    assert (2.2, 1) in releases
    kpis = simulate(d, replications=1, seed=1).replications[0].kpis
    assert kpis["lwbs_pct"] == pytest.approx(100 / 3)
    assert kpis["lwbs"] == 1.0
    # enough patience: nobody leaves
    assert simulate(_lwbs_model(10.0), replications=1).replications[0].kpis["lwbs"] == 0.0


def _nurse_model(mode: str) -> Any:
    return model(
        {"bed": {"capacity": 3}, "nurse": {"capacity": 1}},
        {"a": batch("p", 1, 2)},
        {
            "p": {
                "steps": [
                    {
                        "id": "admit",
                        "acquire": ["bed", "nurse"],
                        "acquire_mode": mode,
                        "duration": fixed(1),
                        "release_after": ["nurse"],
                        "next": "stay",
                    },
                    {"id": "stay", "duration": fixed(5)},
                ]
            }
        },
        {"beds": {"type": "occupancy", "resource": "bed", "stat": "max"}},
    )


def test_acquire_all_holds_nothing_while_waiting() -> None:
    for mode, bed_times in (("sequence", [1.0, 1.0]), ("all", [1.0, 2.0])):
        tr = trace(_nurse_model(mode))
        acq = (tr.kind == EventKind.ACQUIRE) & (tr.ref == 0)
        assert tr.time[acq].tolist() == bed_times, mode
        starts = tr.time[tr.kind == EventKind.START].tolist()
        # the nurse is released after the first hour, the bed kept for the stay
        assert starts == [1.0, 2.0, 2.0, 3.0], mode


def test_blocked_all_request_is_passed_by_one_that_can_be_served() -> None:
    d = model(
        {"bed": {"capacity": 1}, "nurse": {"capacity": 1}},
        {"a": batch("nurse_only", 1, 1), "b": batch("both", 1.5, 1), "c": batch("bed_only", 2, 1)},
        {
            "nurse_only": {"steps": [{"id": "s", "acquire": ["nurse"], "duration": fixed(3)}]},
            "both": {
                "steps": [
                    {
                        "id": "s",
                        "acquire": ["bed", "nurse"],
                        "acquire_mode": "all",
                        "duration": fixed(1),
                    }
                ]
            },
            "bed_only": {"steps": [{"id": "s", "acquire": ["bed"], "duration": fixed(1)}]},
        },
    )
    starts = dict((e, t) for t, e in events(d, EventKind.START))
    assert starts == {0: 1.0, 2: 2.0, 1: 4.0}


def test_patience_without_acquire_is_rejected() -> None:
    with pytest.raises(DefinitionError) as err:
        model(
            {"bed": {"capacity": 1}},
            {"a": batch("p", 1, 1)},
            {"p": {"steps": [{"id": "s", "patience": fixed(1)}]}},
        )
    assert err.value.problems == [
        ("pathways.p.steps[s].patience", "a step without `acquire` never waits")
    ]
