"""Verification of the engine against exact results (extends tests/test_engine_queueing.py).

Queueing formulas (M/M/1 wait and queue length, M/M/1/K blocking, Erlang C queue length),
Little's law on every RH1 station, conservation of patients and units, and a tandem line with
blocking after service solved exactly as a continuous-time Markov chain. Every statistical
check puts the exact value inside the 99.9% Student-t interval of independent replications
(:func:`ci999`), so the tolerance is the stated Monte Carlo error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.test_engine_queueing import ci999, erlang_c, mmc_model, per_rep

from caretwin.forecast import state_at
from caretwin.model import REFERENCE_HOSPITAL, definition_from_data, example_path, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.sim.compiled import compile_definition
from caretwin.sim.engine import Engine
from caretwin.sim.runner import simulate, trace_run
from caretwin.sim.trace import EventKind, Trace, TraceRecorder


def _pairs(tr: Trace, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entity, ref, t_start, t_end) of matched start/end events, k-th with k-th per key."""
    out = []
    for kind in (start, end):
        m = tr.kind == kind
        ent, ref, t = tr.entity[m], tr.ref[m], tr.time[m]
        order = np.lexsort((t, ref, ent))
        out.append((ent[order], ref[order], t[order]))
    (e0, r0, t0), (e1, r1, t1) = out
    # per (entity, ref) key the k-th start matches the k-th end; starts without one are open
    key0 = list(zip(e0.tolist(), r0.tolist(), strict=True))
    ends: dict[tuple[int, int], list[float]] = {}
    for k, t in zip(zip(e1.tolist(), r1.tolist(), strict=True), t1.tolist(), strict=True):
        ends.setdefault(k, []).append(t)
    starts: list[float] = []
    stops: list[float] = []
    refs: list[int] = []
    seen: dict[tuple[int, int], int] = {}
    for k, t in zip(key0, t0.tolist(), strict=True):
        i = seen.get(k, 0)
        seen[k] = i + 1
        lst = ends.get(k, [])
        if i < len(lst):
            starts.append(t)
            stops.append(lst[i])
            refs.append(k[1])
    return np.asarray(refs), np.asarray(starts), np.asarray(stops)


def _area(starts: np.ndarray, stops: np.ndarray, w0: float, w1: float) -> float:
    """Integral over [w0, w1] of the number of open intervals."""
    return float(np.clip(np.minimum(stops, w1) - np.maximum(starts, w0), 0, None).sum())


def _mm1_trace(lam: float, c: int, seed: int, days: float = 150) -> tuple[Trace, TwinDefinition]:
    d = definition_from_data(mmc_model(c, lam, 1.0, days=days))
    return trace_run(d, seed, d.run.horizon_h), d


def _queue_stats(tr: Trace, d: TwinDefinition) -> tuple[float, float]:
    """Mean wait of patients arriving in the window and time-average number waiting."""
    w0, w1 = d.run.warmup_h, d.run.window_end_h
    req = tr.kind == EventKind.REQUEST
    acq = tr.kind == EventKind.ACQUIRE
    t_req = dict(zip(tr.entity[req].tolist(), tr.time[req].tolist(), strict=True))
    t_acq = dict(zip(tr.entity[acq].tolist(), tr.time[acq].tolist(), strict=True))
    ids = [e for e in t_req if e in t_acq]
    a = np.asarray([t_req[e] for e in ids])
    b = np.asarray([t_acq[e] for e in ids])
    inside = (a >= w0) & (a < w1)
    return float((b - a)[inside].mean()), _area(a, b, w0, w1) / (w1 - w0)


@pytest.mark.parametrize(("c", "lam"), [(1, 0.7), (3, 2.4)], ids=["M/M/1", "M/M/3"])
def test_mean_wait_and_queue_length_formulas(c: int, lam: float) -> None:
    a = lam  # offered load with mean service 1 h
    rho = a / c
    pw = erlang_c(c, a)  # = rho for c = 1
    wq = pw / (c - a)  # M/M/1: rho / (mu - lambda)
    lq = pw * rho / (1 - rho)  # M/M/1: rho^2 / (1 - rho)
    waits, lengths = [], []
    for seed in range(8):
        w, q = _queue_stats(*_mm1_trace(lam, c, 100 + seed))
        waits.append(w)
        lengths.append(q)
    for got, exact in ((waits, wq), (lengths, lq)):
        mean, half = ci999(got)
        assert abs(mean - exact) <= half, (mean, half, exact)


def test_mm1k_blocking_probability() -> None:
    lam, k = 0.9, 4  # one in service + queue_limit 3
    rho = lam
    exact = 100 * (1 - rho) * rho**k / (1 - rho ** (k + 1))
    res = simulate(
        definition_from_data(mmc_model(1, lam, 1.0, queue_limit=k - 1)), replications=10, seed=4
    )
    mean, half = ci999(per_rep(res, "lost"))
    assert abs(mean - exact) <= half, (mean, half, exact)


@pytest.fixture(scope="module")
def rh1() -> TwinDefinition:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    return d.model_copy(update={"run": d.run.model_copy(update={"run_days": 120})})


@pytest.fixture(scope="module")
def rh1_traces(rh1: TwinDefinition) -> list[Trace]:
    return [trace_run(rh1, 500 + i, rh1.run.horizon_h) for i in range(6)]


@pytest.mark.slow
def test_littles_law_on_every_rh1_station(rh1: TwinDefinition, rh1_traces: list[Trace]) -> None:
    """Time-average units held L against arrival rate × mean holding time, same replications.

    λ counts acquisitions in the window, W is the mean holding time of those; by stationarity
    the stays carried into and out of the window balance, so E[L − λW] = 0.
    """
    w0, w1 = rh1.run.warmup_h, rh1.run.window_end_h
    span = w1 - w0
    names = list(rh1.resources)
    diffs: dict[str, list[float]] = {n: [] for n in names}
    levels: dict[str, float] = {}
    for tr in rh1_traces:
        refs, a, b = _pairs(tr, EventKind.ACQUIRE, EventKind.RELEASE)
        for r, name in enumerate(names):
            m = refs == r
            lvl = _area(a[m], b[m], w0, w1) / span
            inside = m & (a >= w0) & (a < w1)
            lam = inside.sum() / span
            diffs[name].append(lvl - lam * float((b - a)[inside].mean()))
            levels[name] = lvl
    for name in names:
        mean, half = ci999(diffs[name])
        assert abs(mean) <= half, (name, mean, half, levels[name])
        assert abs(mean) <= 0.02 * levels[name] + 0.01, (name, mean, levels[name])


@pytest.mark.slow
def test_conservation_of_patients_and_units(rh1: TwinDefinition) -> None:
    model = compile_definition(rh1)
    rec = TraceRecorder()
    engine = Engine(model, 77, 0, trace=rec)
    engine.run()
    tr = rec.finish(
        [s.name for s in model.steps],
        [r.name for r in model.resources],
        model.pathway_names,
        [a.name for a in model.arrivals],
        model.horizon_h,
    )
    arrivals = int((tr.kind == EventKind.ARRIVE).sum())
    exits = int((tr.kind == EventKind.EXIT).sum())
    for t in [*np.linspace(24 * 7, model.horizon_h - 1, 12).tolist(), model.horizon_h]:
        upto = tr.time <= t
        inside = (upto & (tr.kind == EventKind.ARRIVE)).sum() - (
            upto & (tr.kind == EventKind.EXIT)
        ).sum()
        assert state_at(tr, t).patient_count() == inside
    in_system = len({int(e) for e in tr.entity[tr.kind == EventKind.ARRIVE]}) - exits
    assert arrivals == exits + in_system
    # units: held + free + down (+ closed) = capacity at the end, and never more held than open
    for res, pool in zip(model.resources, engine.pools, strict=True):
        assert pool.busy + len(pool.free) + pool.down + len(pool.closed) == res.capacity
        sign = np.where(tr.kind == EventKind.ACQUIRE, 1, 0) - np.where(
            tr.kind == EventKind.RELEASE, 1, 0
        )
        down = np.where(tr.kind == EventKind.DOWN, 1, 0) - np.where(tr.kind == EventKind.UP, 1, 0)
        mine = tr.ref == res.index
        held = np.cumsum(np.where(mine & (tr.entity >= 0), sign, 0))
        out = np.cumsum(np.where(mine & (tr.entity < 0), down, 0))
        assert held.min() >= 0 and (held + out).max() <= res.capacity
        assert held[-1] == pool.busy and out[-1] == pool.down


def tandem_exact(lam: float, mu1: float, mu2: float) -> np.ndarray:
    """Stationary law of two single servers, no buffer between them, blocking after service,
    arrivals lost when station 1 is occupied. States: (station 1, station 2) =
    (0,0), (1,0), (0,1), (1,1), (b,1) with b = done but blocked."""
    q = np.zeros((5, 5))
    for i, j, rate in [
        (0, 1, lam), (1, 2, mu1), (2, 0, mu2), (2, 3, lam), (3, 4, mu1), (3, 1, mu2), (4, 2, mu2),
    ]:  # fmt: skip
        q[i, j] = rate
    np.fill_diagonal(q, -q.sum(axis=1))
    a = np.vstack([q.T, np.ones(5)])
    pi, *_ = np.linalg.lstsq(a, np.r_[np.zeros(5), 1.0], rcond=None)
    return pi


def test_tandem_line_with_blocking_matches_its_markov_chain() -> None:
    lam, mu1, mu2 = 1.0, 1.5, 1.2
    pi = tandem_exact(lam, mu1, mu2)
    data: dict[str, Any] = {
        "name": "tandem",
        "resources": {"s1": {"capacity": 1, "queue_limit": 0}, "s2": {"capacity": 1}},
        "arrivals": {"in": {"type": "poisson", "pathway": "p", "rates": [lam] * 24}},
        "pathways": {
            "p": {
                "steps": [
                    {
                        "id": "one",
                        "acquire": ["s1"],
                        "duration": {"dist": "exponential", "mean": 1 / mu1},
                        "next": "two",
                    },
                    {
                        "id": "two",
                        "acquire": ["s2"],
                        "release_on_acquire": ["s1"],
                        "duration": {"dist": "exponential", "mean": 1 / mu2},
                    },
                ]
            }
        },
        "run": {"warmup_days": 5, "run_days": 200, "cooldown_days": 1},
        "kpis": {
            "lost": {"type": "turned_away", "resource": "s1"},
            "busy1": {"type": "occupancy", "resource": "s1"},
            "busy2": {"type": "occupancy", "resource": "s2"},
            "blocked": {"type": "wait", "steps": ["p.two"]},
        },
    }
    res = simulate(definition_from_data(data), replications=10, seed=8)
    p_occupied1 = pi[1] + pi[3] + pi[4]
    exact = {
        "lost": 100 * p_occupied1,  # PASTA: arrivals see the time-stationary law
        "busy1": p_occupied1,  # station 1 held while working or blocked
        "busy2": pi[2] + pi[3] + pi[4],
    }
    for kpi, value in exact.items():
        mean, half = ci999(per_rep(res, kpi))
        assert abs(mean - value) <= half, (kpi, mean, half, value)
    # throughput = lambda (1 - P_loss) = mu2 × P(station 2 busy)
    assert lam * (1 - p_occupied1) == pytest.approx(mu2 * exact["busy2"], rel=1e-9)
