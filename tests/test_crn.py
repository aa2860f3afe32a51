"""Common random numbers keyed by entity: a scenario that changes only capacity gives every
patient the same arrival time, the same treatment time and the same routing, so paired
comparisons of scenarios have a much smaller variance than unpaired ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from caretwin.model import REFERENCE_HOSPITAL, apply_scenario, example_path, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.sim.result import SimulationResult
from caretwin.sim.runner import simulate, trace_run
from caretwin.sim.trace import EventKind, Trace


@pytest.fixture(scope="module")
def rh1() -> TwinDefinition:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    run = d.run.model_copy(update={"warmup_days": 14, "run_days": 90, "cooldown_days": 7})
    return d.model_copy(update={"run": run})


def _ward_beds(d: TwinDefinition, beds: int) -> TwinDefinition:
    res = dict(d.resources)
    res["ward_bed"] = res["ward_bed"].model_copy(update={"capacity": beds})
    return d.model_copy(update={"resources": res})


def _per_patient(tr: Trace, kind: EventKind, step: str) -> dict[int, float]:
    s = tr.step_names.index(step)
    rows = (tr.kind == kind) & (tr.ref == s)
    return dict(zip(tr.entity[rows].tolist(), tr.time[rows].tolist(), strict=True))


def test_capacity_change_keeps_each_patients_arrival_and_treatment_time(
    rh1: TwinDefinition,
) -> None:
    horizon = 24 * 45.0
    a = trace_run(rh1, seed=3, horizon_h=horizon)
    b = trace_run(_ward_beds(rh1, 120), seed=3, horizon_h=horizon)  # heavy boarding in b
    arrive_a = a.time[a.kind == EventKind.ARRIVE]
    arrive_b = b.time[b.kind == EventKind.ARRIVE]
    np.testing.assert_array_equal(arrive_a, arrive_b)
    # treatment durations per patient (END - START of ed.treatment), for patients done in both
    start_a, end_a = (_per_patient(a, k, "ed.treatment") for k in (EventKind.START, EventKind.END))
    start_b, end_b = (_per_patient(b, k, "ed.treatment") for k in (EventKind.START, EventKind.END))
    both = sorted(set(end_a) & set(end_b))
    assert len(both) > 5000
    dur_a = np.array([end_a[p] - start_a[p] for p in both])
    dur_b = np.array([end_b[p] - start_b[p] for p in both])
    np.testing.assert_allclose(dur_a, dur_b, rtol=0, atol=1e-9)
    # the scenarios really differ: ED patients wait for treatment spaces held by boarders
    assert any(start_a[p] != start_b[p] for p in both)
    # routing too: the same patients go to CT
    ct_a, ct_b = (set(_per_patient(x, EventKind.REQUEST, "ed.ct_scan")) for x in (a, b))
    assert {p for p in ct_a if p in both} == {p for p in ct_b if p in both}


N_PAIRED = 10


@pytest.fixture(scope="module")
def three_runs(rh1: TwinDefinition) -> tuple[SimulationResult, ...]:
    plus10 = apply_scenario(rh1, "ward_plus10")
    return (
        simulate(rh1, replications=N_PAIRED, seed=5),
        simulate(plus10, replications=N_PAIRED, seed=5),  # paired with the first
        simulate(plus10, replications=N_PAIRED, seed=6),  # independent of it
    )


@pytest.mark.parametrize("kpi", ["boarding_mean_h", "ward_occupancy_mean"])
@pytest.mark.slow
def test_paired_differences_have_much_smaller_variance(
    three_runs: tuple[SimulationResult, ...], kpi: str
) -> None:
    """F test of H0 'pairing does not reduce the variance of the difference', one-sided at
    0.1%: the paired (same seed) variance must be below the unpaired (independent seeds) one by
    more than the 99.9% quantile of F(n-1, n-1)."""
    n = N_PAIRED
    base, paired, unpaired = three_runs

    def col(res: SimulationResult) -> np.ndarray:
        return np.array([r.kpis[kpi] for r in res.replications])

    var_paired = np.var(col(base) - col(paired), ddof=1)
    var_unpaired = np.var(col(base) - col(unpaired), ddof=1)
    critical = stats.f.ppf(0.999, n - 1, n - 1)
    assert var_unpaired / var_paired > critical, (var_paired, var_unpaired, critical)


def test_seeded_runs_stay_bit_identical_and_replication_independent(rh1: TwinDefinition) -> None:
    short = rh1.model_copy(update={"run": rh1.run.model_copy(update={"run_days": 20})})
    a = simulate(short, replications=3, seed=8)
    b = simulate(short, replications=3, seed=8, workers=2)
    assert [r.kpis for r in a.replications] == [r.kpis for r in b.replications]
    one = simulate(short, replications=1, seed=8)
    assert one.replications[0].kpis == a.replications[0].kpis
