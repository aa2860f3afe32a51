"""The fast core against the reference engine: every per-replication output bit-identical.

"Identical" is strict: the same KPI floats (NaN where the reference has NaN), the same event
count, the same daily occupancy arrays and histograms. Models cover RH1 and its scenarios, the
M/M/c stations of the queueing tests, and one model using every feature beyond RH1 at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import yaml
from tests.test_engine_queueing import mmc_model

from caretwin.errors import SimulationError
from caretwin.model import REFERENCE_HOSPITAL, definition_from_data, example_path, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.model.loader import apply_scenario
from caretwin.sim import fast
from caretwin.sim.compiled import CompiledModel, compile_definition
from caretwin.sim.engine import Engine
from caretwin.sim.fast import run as fast_run
from caretwin.sim.result import ReplicationResult
from caretwin.sim.runner import resolve_engine, simulate

pytestmark = pytest.mark.skipif(not fast.available(), reason="numba is not installed")


def same(a: ReplicationResult, b: ReplicationResult) -> None:
    assert a.replication == b.replication
    assert a.events == b.events
    assert a.kpis.keys() == b.kpis.keys()
    for k, v in a.kpis.items():
        w = b.kpis[k]
        assert v == w or (math.isnan(v) and math.isnan(w)), (k, v, w)
    assert a.occupancy_daily.keys() == b.occupancy_daily.keys()
    for k, arr in a.occupancy_daily.items():
        assert np.array_equal(arr, b.occupancy_daily[k]), k
    assert a.histograms.keys() == b.histograms.keys()
    for k, arr in a.histograms.items():
        assert np.array_equal(arr, b.histograms[k]), k


def check(model: CompiledModel, seed: int, reps: range) -> None:
    assert fast.supports(model) is None
    refs = [Engine(model, seed, rep).run() for rep in reps]
    with pytest.MonkeyPatch.context() as mp:  # the fast core must not hand over to the reference
        mp.setattr(fast_run, "Engine", None)
        for ref, rep in zip(refs, reps, strict=True):
            same(ref, fast.run_replication_fast(model, seed, rep))


def rh1(days: float) -> TwinDefinition:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    run = d.run.model_copy(update={"warmup_days": 7.0, "run_days": days, "cooldown_days": 2.0})
    return d.model_copy(update={"run": run})


def test_rh1_short_runs_are_identical() -> None:
    check(compile_definition(rh1(40)), 20260101, range(3))


@pytest.mark.parametrize("scenario", ["ward_plus10", "ed_surge05", "one_ct"])
def test_rh1_scenarios_are_identical(scenario: str) -> None:
    check(compile_definition(apply_scenario(rh1(30), scenario)), 7, range(2))


@pytest.mark.slow
def test_rh1_full_length_replication_is_identical() -> None:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    check(compile_definition(d), d.run.seed, range(1))


@pytest.mark.parametrize("queue_limit", [None, 0, 2])
def test_mmc_stations_are_identical(queue_limit: int | None) -> None:
    d = definition_from_data(mmc_model(3, 2.4, 1.0, queue_limit=queue_limit, days=30))
    check(compile_definition(d), 5, range(3))


FEATURES = """
name: features
resources:
  bay: {capacity: 6, queue_limit: 8}
  doctor:
    capacity: 3
    schedule: [{from_hour: 20, to_hour: 8, capacity: 1}, {days: [sat, sun], from_hour: 0,
               to_hour: 24, capacity: 2}]
  scanner:
    capacity: 2
    failures:
      time_to_failure: {dist: weibull, shape: 1.5, scale: 60}
      repair: {dist: gamma, shape: 2, scale: 2}
    maintenance: [{every_days: 7, duration_h: 4, start_hour: 6, first_day: 1}]
  bed: {capacity: 10}
  nurse: {capacity: 2}
arrivals:
  walk_in:
    type: poisson
    pathway: ed
    rates: [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0, 4.0,
            4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.0]
    attributes:
      acuity: {high: 0.25, low: 0.75}
  ambulance:
    type: poisson
    pathway: urgent
    rates: [0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6,
            0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    attributes:
      acuity: {high: 0.8, low: 0.2}
  planned:
    type: scheduled
    pathway: planned
    weekdays: [mon, wed, fri]
    at_hour: 8
    count: 3
pathways:
  ed:
    steps:
      - id: triage
        acquire: [bay]
        duration: {dist: uniform, low: 0.1, high: 0.3}
        next: see
      - id: see
        acquire: [doctor]
        priority: 1
        patience: {dist: exponential, mean: 3}
        duration:
          by: acuity
          cases: {high: {dist: lognormal, mean: 1.5, sd: 0.8}}
          default: {dist: lognormal, mean: 0.6, sd: 0.3}
        release_after: [doctor]
        next:
          by: acuity
          cases: {high: [{to: scan, p: 0.7}, {to: exit, p: 0.3}]}
          default: [{to: scan, p: 0.2}, {to: exit, p: 0.8}]
      - id: scan
        acquire: [scanner]
        duration: {dist: empirical, values: [0.2, 0.3, 0.5]}
        release_after: [scanner]
        next: [{to: admit, p: 0.4}, {to: see, p: 0.3}, {to: exit, p: 0.3}]
      - id: admit
        acquire: [bed, nurse]
        acquire_mode: all
        release_on_acquire: [bay]
        duration: {dist: exponential, mean: 20}
  urgent:
    steps:
      - id: see
        acquire: [bay, doctor]
        priority: 0
        duration: {dist: exponential, mean: 1}
        release_after: [doctor]
        next: [{to: stay, p: 0.5}, {to: exit, p: 0.5}]
      - id: stay
        acquire: [bed]
        release_on_acquire: [bay]
        duration: {dist: lognormal, mean: 30, sd: 20}
  planned:
    steps:
      - id: op
        acquire: [nurse, bed]
        acquire_mode: all
        duration: {dist: fixed, value: 2}
        release_after: [nurse]
        next: recover
      - id: recover
        duration: {dist: empirical, values: [24, 48], weights: [3, 1]}
run: {warmup_days: 3, run_days: 40, cooldown_days: 1, replications: 3, seed: 11}
kpis:
  ed_los: {type: interval, pathway: ed, start: arrival, end: exit, stat: p90}
  ed_bay: {type: interval, pathway: ed, start: arrival, end: "release:bay", stat: median}
  ed_over: {type: interval, pathway: ed, start: "request:see", end: "end:see",
            stat: pct_over, threshold: 1}
  door_to_doc: {type: wait, steps: [ed.see, urgent.see]}
  bed_wait: {type: wait, steps: [ed.admit, urgent.stay, planned.op], stat: p95}
  left: {type: reneged, steps: [ed.see]}
  left_n: {type: reneged, steps: [ed.see], stat: count}
  bay_full: {type: turned_away, resource: bay}
  bay_full_n: {type: turned_away, resource: bay, stat: count}
  doctors: {type: utilisation, resource: doctor}
  scanners: {type: occupancy, resource: scanner, stat: max}
  beds: {type: occupancy, resource: bed}
  planned_n: {type: interval, pathway: planned, start: arrival, end: exit, stat: count}
"""


def features() -> TwinDefinition:
    return definition_from_data(yaml.safe_load(FEATURES))


def test_every_feature_together_is_identical() -> None:
    m = compile_definition(features())
    # the model does exercise what it is meant to
    assert any(s.revisit for s in m.steps) and any(s.mode_all for s in m.steps)
    assert any(s.patience is not None for s in m.steps)
    assert any(r.schedule for r in m.resources) and any(r.maintenance for r in m.resources)
    check(m, 11, range(3))
    res = Engine(m, 11, 0).run().kpis
    assert res["left_n"] > 0 and res["bay_full_n"] > 0


def test_looping_patients_beyond_the_first_visit_bound_are_identical() -> None:
    """Patients revisiting a step more often than the first bound on pre-drawn visits: the
    fast core grows its bounds and runs the replication again, with the same numbers."""
    data: dict[str, Any] = {
        "name": "loop",
        "resources": {"room": {"capacity": 2}},
        "arrivals": {"in": {"type": "poisson", "pathway": "p", "rates": [0.5] * 24}},
        "pathways": {
            "p": {
                "steps": [
                    {
                        "id": "visit",
                        "acquire": ["room"],
                        "duration": {"dist": "exponential", "mean": 0.5},
                        "release_after": ["room"],
                        "next": [{"to": "visit", "p": 0.85}, {"to": "exit", "p": 0.15}],
                    }
                ]
            }
        },
        "run": {"warmup_days": 1, "run_days": 20, "cooldown_days": 1},
        "kpis": {"stay": {"type": "interval", "pathway": "p", "start": "arrival", "end": "exit"}},
    }
    check(compile_definition(definition_from_data(data)), 3, range(2))


def test_simulate_engines_agree_and_workers_do_not_matter() -> None:
    d = rh1(20)
    ref = simulate(d, replications=3, seed=9, engine="reference")
    one = simulate(d, replications=3, seed=9, engine="fast")
    two = simulate(d, replications=3, seed=9, engine="fast", workers=2)
    for a, b, c in zip(ref.replications, one.replications, two.replications, strict=True):
        same(a, b)
        same(a, c)
    assert ref.summary == one.summary == two.summary


def test_auto_falls_back_and_fast_refuses_when_unsupported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = compile_definition(rh1(10))
    assert resolve_engine(m, "auto") == "fast"
    assert resolve_engine(m, "reference") == "reference"
    # an environment without numba: auto runs the reference engine, fast is an error
    monkeypatch.setattr(fast, "available", lambda: False)
    assert fast.supports(m) == "numba is not installed"
    assert resolve_engine(m, "auto") == "reference"
    with pytest.raises(SimulationError, match="numba is not installed"):
        resolve_engine(m, "fast")
    res = simulate(rh1(10), replications=1, seed=2)  # auto: still runs, on the reference
    same(res.replications[0], Engine(m, 2, 0).run())
