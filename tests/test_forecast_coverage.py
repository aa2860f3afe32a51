"""Forecast calibration: the 90% and 50% prediction intervals cover the realised census.

States are captured from one long RH1 run at origins 36 h apart; from each, the census is
forecast 24 h ahead and the long run's own census 24 h later is the realisation. With one check
per origin and pool at that one horizon, and origins further apart than the horizon, the
indicators "realised inside the interval" minus their conditional probabilities are martingale
differences (each origin's window of future randomness is disjoint from the next), so their sum
has variance sum(p(1-p)) with no correlation across origins. Pools at one origin are correlated
(boarding links the ED and the wards), so the per-origin variance is bounded by
(sum over pools of sqrt(p(1-p)))² (Cauchy-Schwarz). ``p`` is each forecast's own probability of
its interval (integer censuses make it >= nominal); its Monte Carlo error adds a factor
(1 + 1/reps). The test asserts the observed count is within 3.5 sd of the expected one.

The same test runs on RH1-staffed (nurse staffing by hour of week, CT maintenance windows), with
origins 31 h apart so that they fall at every hour of the day and every day of the week: the
forecasts start at the state's hour of the week and must meet each shift change and maintenance
window when the long run does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from caretwin.forecast import run_forecast, state_at
from caretwin.forecast.capture import census_at
from caretwin.model import (
    REFERENCE_HOSPITAL,
    REFERENCE_HOSPITAL_STAFFED,
    example_path,
    load_definition,
)
from caretwin.sim.runner import trace_run

ORIGINS = 40
HORIZON = 24
REPS = 100
FIRST_H = 24 * 28 + 0.37  # after RH1's warm-up, off the hour (no event ties at the origin)


# model -> hours between origins (more than the horizon)
MODELS = {REFERENCE_HOSPITAL: 36.0, REFERENCE_HOSPITAL_STAFFED: 31.0}


@pytest.fixture(scope="module", params=sorted(MODELS))
def checks(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    model = load_definition(example_path(request.param))
    spacing = MODELS[request.param]
    end = FIRST_H + ORIGINS * spacing + HORIZON + 1
    trace = trace_run(model, 20260101, end)
    real, fc = [], []
    for j in range(ORIGINS):
        t = FIRST_H + j * spacing
        f = run_forecast(model, state_at(trace, t), HORIZON, replications=REPS, seed=1000 + j)
        fc.append(f.census[:, HORIZON, :])  # (reps, pools)
        real.append(census_at(trace, t + HORIZON))
    return {
        "model": np.asarray(request.param),
        "forecast": np.stack(fc),  # (origins, reps, pools)
        "real": np.stack(real),
    }


@pytest.mark.parametrize(("lo_q", "hi_q", "nominal"), [(5, 95, 0.9), (25, 75, 0.5)])
@pytest.mark.slow
def test_prediction_intervals_cover_at_their_level(
    checks: dict[str, np.ndarray],
    lo_q: float,
    hi_q: float,
    nominal: float,
    report_figure: Callable[[str], None],
) -> None:
    fc, real = checks["forecast"], checks["real"]
    lo = np.percentile(fc, lo_q, axis=1)  # (origins, pools)
    hi = np.percentile(fc, hi_q, axis=1)
    inside = (real >= lo) & (real <= hi)
    p = ((fc >= lo[:, None, :]) & (fc <= hi[:, None, :])).mean(axis=1)
    observed, expected = inside.sum(), p.sum()
    var = (np.sqrt(p * (1 - p)).sum(axis=1) ** 2).sum() * (1 + 1 / REPS)
    sd = math.sqrt(var)
    per_pool = inside.mean(axis=0).round(2).tolist()
    msg = f"covered {observed} of {inside.size}, expected {expected:.1f} ± {sd:.1f}; {per_pool}"
    report_figure(f"forecast coverage {checks['model']} {nominal:.0%}: {msg}")
    assert abs(observed - expected) <= 3.5 * sd, msg
    # the intervals are not trivially wide: their own probability stays near the nominal level
    assert nominal - 0.02 <= p.mean() <= nominal + 0.2, msg
