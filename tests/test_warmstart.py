"""Warm start: exact conditional residuals, state placement, calendar alignment, validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from caretwin.forecast import run_forecast, state_at
from caretwin.forecast.capture import census_at
from caretwin.model import REFERENCE_HOSPITAL, definition_from_data, example_path, load_definition
from caretwin.model.distributions import (
    Empirical,
    Exponential,
    Fixed,
    Gamma,
    LogNormal,
    Uniform,
    Weibull,
)
from caretwin.sim.compiled import compile_definition
from caretwin.sim.state import InvalidState, check_state, parse_state
from caretwin.sim.trace import EventKind, TraceRecorder
from caretwin.sim.warmstart import compile_state, forecast_model, residual, run_from_state

N = 20_000


@pytest.mark.parametrize(
    "dist",
    [
        LogNormal(mean=96, sd=96),
        Gamma(shape=2.0, scale=30.0),
        Weibull(shape=1.5, scale=60.0),
        Uniform(low=10, high=80),
        Exponential(mean=40),
    ],
    ids=lambda d: d.dist,
)
@pytest.mark.parametrize("elapsed", [0.0, 30.0, 150.0])
def test_residual_matches_rejection_sampling(dist: Any, elapsed: float) -> None:
    """X − e | X > e drawn exactly agrees with brute-force rejection (two-sample KS, 99.9%)."""
    rng = np.random.default_rng(7)
    if isinstance(dist, Uniform) and elapsed >= dist.high:
        assert residual(dist, np.full(3, elapsed), rng.random(3)).tolist() == [0.0] * 3
        return
    exact = residual(dist, np.full(N, elapsed), rng.random(N))
    raw = dist.sample(rng, 60 * N)
    brute = raw[raw > elapsed][:N] - elapsed
    assert brute.size > 2000
    assert (exact >= 0).all()
    assert stats.ks_2samp(exact, brute).pvalue > 1e-3


def test_residual_special_cases() -> None:
    u = np.array([0.1, 0.5, 0.9])
    assert residual(Fixed(value=5), np.array([2.0, 5.0, 9.0]), u).tolist() == [3.0, 0.0, 0.0]
    emp = Empirical(values=[1, 4, 10], weights=[1, 1, 2])
    got = residual(emp, np.array([3.0, 3.0, 3.0, 20.0]), np.array([0.1, 0.5, 0.9, 0.5]))
    # beyond 3 only 4 (weight 1) and 10 (weight 2) remain: u < 1/3 picks 4
    assert got.tolist() == [1.0, 7.0, 7.0, 0.0]
    # lognormal far in its tail still gives finite positive remainders
    far = residual(LogNormal(mean=2, sd=0.5), np.full(4, 40.0), np.array([0.0, 0.3, 0.6, 0.99]))
    assert np.isfinite(far).all() and (far >= 0).all()


def tiny(cap: int = 1, rates: list[float] | None = None, **res: Any) -> dict[str, Any]:
    return {
        "name": "tiny",
        "resources": {"bed": {"capacity": cap, **res}},
        "arrivals": {"in": {"type": "poisson", "pathway": "p", "rates": rates or [0.0] * 24}},
        "pathways": {
            "p": {
                "steps": [
                    {"id": "stay", "acquire": ["bed"], "duration": {"dist": "fixed", "value": 3}}
                ]
            }
        },
        "run": {"run_days": 1},
    }


def trace_from(data: dict[str, Any], state: dict[str, Any], hours: float, seed: int = 1) -> Any:
    defn = definition_from_data(data)
    st = parse_state(state)
    check_state(st, defn)
    model = forecast_model(compile_definition(defn), hours)
    rec = TraceRecorder()
    run_from_state(model, compile_state(st, model), seed, 0, trace=rec)
    return rec.finish(
        [s.name for s in model.steps], [r.name for r in model.resources], [], [], hours
    )


def test_waiting_patients_keep_fifo_order_by_request_time() -> None:
    state = {
        "hour_of_week": 0,
        "patients": [
            {"step": "p.stay", "status": "in_service", "elapsed_h": 2, "holds": ["bed"]},
            {"step": "p.stay", "status": "waiting", "elapsed_h": 1},  # id 1: waited least
            {"step": "p.stay", "status": "waiting", "elapsed_h": 5},  # id 2: waited longest
        ],
    }
    tr = trace_from(tiny(), state, 10)
    acq = tr.kind == EventKind.ACQUIRE
    assert tr.entity[acq].tolist() == [0, 2, 1]
    # fixed 3 h stay, 2 h elapsed: the bed is handed on at t = 1, then 3 h later
    assert tr.time[acq].tolist() == [0.0, 1.0, 4.0]


def test_a_unit_left_free_serves_the_queue_at_once() -> None:
    state = {
        "hour_of_week": 0,
        "patients": [{"step": "p.stay", "status": "waiting", "elapsed_h": 1}],
    }
    tr = trace_from(tiny(cap=2), state, 10)
    assert tr.time[tr.kind == EventKind.ACQUIRE].tolist() == [0.0]
    assert tr.time[tr.kind == EventKind.RELEASE].tolist() == [3.0]


def test_device_down_gets_its_remaining_repair_and_its_clock_stops() -> None:
    failures = {
        "time_to_failure": {"dist": "fixed", "value": 100},
        "repair": {"dist": "fixed", "value": 10},
    }
    state = {"hour_of_week": 0, "devices": [{"resource": "bed", "elapsed_h": 4}]}
    tr = trace_from(tiny(cap=2, failures=failures), state, 150)
    up = tr.kind == EventKind.UP
    assert tr.time[up].tolist()[0] == 6.0
    fails = sorted(tr.time[tr.kind == EventKind.FAIL].tolist())
    # clock 0 (the down unit) restarts at 6 -> fails at 106; clock 1 starts fresh -> 100
    assert fails == [100.0, 106.0]


def test_arrivals_continue_from_as_of_on_the_model_calendar() -> None:
    rates = [0.0] * 24
    rates[10] = 50.0  # only 10:00-11:00
    # Tuesday 09:30 (hour of week 33.5): arrivals in [0.5, 1.5) local, and again a day later
    tr = trace_from(tiny(cap=200, rates=rates), {"as_of": "2026-03-03T09:30:00"}, 30)
    t = tr.time[tr.kind == EventKind.ARRIVE]
    assert t.size > 40 and ((t % 24 >= 0.5) & (t % 24 < 1.5)).all()
    same = trace_from(tiny(cap=200, rates=rates), {"hour_of_week": 33.5}, 30)
    assert same.time.tolist() == tr.time.tolist()


def test_scheduled_batches_strictly_after_as_of() -> None:
    rh1 = load_definition(example_path(REFERENCE_HOSPITAL))
    model = forecast_model(compile_definition(rh1), 30)
    st = parse_state({"hour_of_week": 7.0})  # Monday 07:00: that batch is part of the state
    rec = TraceRecorder()
    run_from_state(model, compile_state(st, model), 3, 0, trace=rec)
    tr = rec.finish([s.name for s in model.steps], [], rh1_pathways(), [], 30)
    elective = (np.asarray(rec.kind) == EventKind.ARRIVE) & (np.asarray(rec.ref) == 1)
    assert sorted(set(tr.time[elective].tolist())) == [24.0]


def rh1_pathways() -> list[str]:
    return ["ed", "elective"]


def test_same_state_and_seed_is_bit_identical_and_workers_do_not_matter() -> None:
    rh1 = load_definition(example_path(REFERENCE_HOSPITAL))
    from caretwin.sim.runner import trace_run

    st = state_at(trace_run(rh1, 5, 24 * 35.3), 24 * 35.3)
    a = run_forecast(rh1, st, 24, replications=8, seed=11)
    b = run_forecast(rh1, st, 24, replications=8, seed=11, workers=2)
    c = run_forecast(rh1, st, 24, replications=8, seed=12)
    assert np.array_equal(a.census, b.census)
    assert not np.array_equal(a.census, c.census)
    # mark 0 is the state itself in every replication
    assert (a.census[:, 0, :] == a.census[0, 0, :]).all()


def test_capture_reproduces_who_holds_what() -> None:
    rh1 = load_definition(example_path(REFERENCE_HOSPITAL))
    from caretwin.sim.runner import trace_run

    tr = trace_run(rh1, 2, 24 * 40)
    for t in (24 * 30 + 0.25, 24 * 33 + 13.7):
        st = state_at(tr, t)
        check_state(st, rh1)
        upto = tr.time <= t
        inside = (upto & (tr.kind == EventKind.ARRIVE)).sum() - (
            upto & (tr.kind == EventKind.EXIT)
        ).sum()
        assert st.patient_count() == inside
        held = {r: 0 for r in rh1.resources}
        for p in st.patients:
            for r in p.holds:
                held[r] += p.count
        assert list(held.values()) == census_at(tr, t).tolist()
        f = run_forecast(rh1, st, 2, replications=2, seed=1)
        assert f.census[0, 0].tolist() == census_at(tr, t).tolist()


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"step": "ed.nowhere", "status": "waiting", "elapsed_h": 1}, "patients[0].step"),
        (
            {"step": "ed.ward", "status": "waiting", "elapsed_h": 1, "holds": ["x"]},
            "patients[0].holds[0]",
        ),
        ({"step": "ed.ward", "status": "in_service", "elapsed_h": 1}, "patients[0].holds"),
        ({"step": "ed.admit", "status": "in_service", "elapsed_h": 0}, "patients[0].status"),
        ({"step": "ed.ct_review", "status": "waiting", "elapsed_h": 1}, "patients[0].status"),
        (
            {
                "step": "ed.ward",
                "status": "in_service",
                "elapsed_h": 1,
                "holds": ["ward_bed"],
                "count": 161,
            },
            "resources.ward_bed",
        ),
    ],
)
def test_invalid_states_name_the_field(patch: dict[str, Any], path: str) -> None:
    rh1 = load_definition(example_path(REFERENCE_HOSPITAL))
    with pytest.raises(InvalidState) as err:
        check_state(parse_state({"hour_of_week": 1, "patients": [patch]}), rh1)
    assert path in [p for p, _ in err.value.problems], err.value.problems


def test_parse_errors_carry_field_paths() -> None:
    with pytest.raises(InvalidState) as err:
        parse_state({"patients": [{"step": "a.b", "status": "sleeping", "elapsed_h": -1}]})
    paths = {p for p, _ in err.value.problems}
    assert {"patients.0.status", "patients.0.elapsed_h", "<root>"} <= paths or (
        "patients.0.status" in paths and "patients.0.elapsed_h" in paths
    ), paths
    with pytest.raises(InvalidState):
        check_state(
            parse_state({"hour_of_week": 1, "devices": [{"resource": "ward_bed"}]}),
            load_definition(example_path(REFERENCE_HOSPITAL)),
        )
