"""The SimPy comparator of the benchmark implements RH1 correctly: its KPIs agree with the
independent reference values within Monte Carlo error, and it is reproducible.

Eight replications of the full RH1 run (28 + 364 + 14 days), two worker processes: a few
seconds. The tolerance of each KPI is the sum of the two 95% CI half-widths (reference: 100
replications; ours: Student t over 8), so each comparison fails by chance with well under 5%
probability when both implementations are right.
"""

from __future__ import annotations

import math

import pytest
from benchmarks.simpy_rh1 import KPI_NAMES, RH1Params, SimpyResult, job, run_replication
from tests.test_engine_rh1 import REFERENCE

from caretwin.sim.executors import map_replications
from caretwin.sim.result import summarise_values

SEED = 20260101  # RH1's run seed
REPS = 8


@pytest.fixture(scope="module")
def replications() -> list[SimpyResult]:
    return map_replications(job, [(SEED, i, RH1Params()) for i in range(REPS)], workers=2)


def test_every_reference_kpi_is_reported() -> None:
    assert set(REFERENCE) == set(KPI_NAMES)


@pytest.mark.parametrize("kpi", sorted(REFERENCE))
@pytest.mark.slow
def test_simpy_rh1_agrees_with_reference(replications: list[SimpyResult], kpi: str) -> None:
    ref_mean, ref_half = REFERENCE[kpi]
    mean, half, _, n = summarise_values([r.kpis[kpi] for r in replications])
    assert n == REPS
    assert math.isfinite(half)
    assert abs(mean - ref_mean) <= ref_half + half, (kpi, mean, half)


def test_same_seed_same_numbers_and_replications_differ() -> None:
    short = RH1Params(run_days=14)
    a, b = run_replication(7, 0, short), run_replication(7, 0, short)
    assert a == b
    assert run_replication(7, 1, short).kpis != a.kpis
    assert a.events > 0


def test_one_scanner_lengthens_the_ct_wait() -> None:
    base = run_replication(3, 0, RH1Params(run_days=56))
    one_ct = run_replication(3, 0, RH1Params(run_days=56, ct_scanners=1))
    assert one_ct.kpis["ct_wait_mean_h"] > 3 * base.kpis["ct_wait_mean_h"]
