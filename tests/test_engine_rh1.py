"""Engine v1 on the reference hospital: agreement with the independent reference values,
bit-identical reproducibility, and scenario directions."""

from __future__ import annotations

import pytest

from caretwin.model import REFERENCE_HOSPITAL, apply_scenario, example_path, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.sim.result import SimulationResult
from caretwin.sim.runner import simulate, trace_run
from caretwin.sim.trace import EventKind

# RH1 baseline from an independent implementation: 100 replications, mean and 95% CI half-width.
REFERENCE = {
    "ed_wait_mean_h": (0.672, 0.293),
    "ed_los_mean_h": (3.417, 0.316),
    "ed_los_over_4h_pct": (17.64, 0.98),
    "boarding_mean_h": (1.383, 0.118),
    "ct_wait_mean_h": (0.0604, 0.0014),
    "icu_occupancy_mean": (13.28, 0.09),
    "ward_occupancy_mean": (143.60, 0.33),
    "surgical_wait_mean_h": (2.544, 0.056),
    "icu_stepdown_block_mean_h": (0.474, 0.046),
    "ed_patients": (53527, 46),
}


@pytest.fixture(scope="module")
def rh1() -> TwinDefinition:
    return load_definition(example_path(REFERENCE_HOSPITAL))


@pytest.fixture(scope="module")
def baseline(rh1: TwinDefinition) -> SimulationResult:
    return simulate(rh1, replications=20, seed=rh1.run.seed, workers=2)


@pytest.mark.parametrize("kpi", sorted(REFERENCE))
@pytest.mark.slow
def test_rh1_baseline_agrees_with_reference(baseline: SimulationResult, kpi: str) -> None:
    ref_mean, ref_half = REFERENCE[kpi]
    got = baseline.summary[kpi]
    assert got.n == 20
    assert abs(got.mean - ref_mean) <= ref_half + got.ci95, (kpi, got.mean, got.ci95)


def test_same_seed_is_bit_identical_whatever_the_workers(rh1: TwinDefinition) -> None:
    short = rh1.model_copy(update={"run": rh1.run.model_copy(update={"run_days": 60})})
    a = simulate(short, replications=3, seed=42, workers=1)
    b = simulate(short, replications=3, seed=42, workers=2)
    assert [r.kpis for r in a.replications] == [r.kpis for r in b.replications]
    c = simulate(short, replications=3, seed=43, workers=1)
    assert [r.kpis for r in a.replications] != [r.kpis for r in c.replications]
    # replication i does not depend on how many replications run
    d = simulate(short, replications=1, seed=42)
    assert d.replications[0].kpis == a.replications[0].kpis


@pytest.mark.slow
def test_scenarios_move_kpis_the_right_way(rh1: TwinDefinition) -> None:
    short = rh1.model_copy(update={"run": rh1.run.model_copy(update={"run_days": 120})})
    base = simulate(short, replications=4, seed=9, workers=2).summary
    one_ct = simulate(apply_scenario(short, "one_ct"), replications=4, seed=9, workers=2).summary
    plus10 = simulate(apply_scenario(short, "ward_plus10"), replications=4, seed=9, workers=2)
    assert one_ct["ct_wait_mean_h"].mean > 3 * base["ct_wait_mean_h"].mean
    assert plus10.summary["boarding_mean_h"].mean < base["boarding_mean_h"].mean


def test_trace_records_boarding_and_failures(rh1: TwinDefinition) -> None:
    tr = trace_run(rh1, seed=1, horizon_h=24 * 60)
    kinds = set(tr.kind.tolist())
    assert {int(k) for k in EventKind} <= kinds
    assert tr.time.max() <= 24 * 60
    assert (tr.time[1:] >= tr.time[:-1]).all()  # in time order
    # every DOWN is followed by its UP on the same unit unless the horizon cut it
    down = (tr.kind == EventKind.DOWN).sum()
    up = (tr.kind == EventKind.UP).sum()
    assert 0 <= down - up <= 2
