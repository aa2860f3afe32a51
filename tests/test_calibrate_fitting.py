"""The fitting core on seeded numpy samples whose true parameters are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caretwin.calibrate import (
    Proportion,
    exponential_mean_from_exposure,
    fit_duration,
    poisson_rates,
)
from caretwin.calibrate.fitting import fit_family
from caretwin.errors import CalibrationError
from caretwin.model import LogNormal


def test_lognormal_parameters_recovered() -> None:
    rng = np.random.default_rng(11)
    truth = LogNormal(mean=2.0, sd=1.2)
    fit = fit_duration(truth.sample(rng, 20_000))
    assert fit.family == "lognormal"
    assert isinstance(fit.distribution, LogNormal)
    # SE of the mean ≈ 1.2/√20000 ≈ 0.0085; of the sd ≈ 0.01: 3% is > 5 SE.
    assert fit.distribution.mean() == pytest.approx(2.0, rel=0.03)
    assert fit.distribution.sd == pytest.approx(1.2, rel=0.03)
    assert fit.n == 20_000 and fit.ks_pvalue > 0.001
    diag = fit.diagnostics()
    assert set(diag["aic"]) == {"exponential", "lognormal", "gamma", "weibull"}
    assert diag["aic"]["lognormal"] == min(diag["aic"].values())


def test_lognormal_closed_form_matches_scipy_mle() -> None:
    from scipy import stats

    x = np.random.default_rng(3).lognormal(0.5, 0.7, 2_000)
    params, loglik = fit_family(x, "lognormal")
    s, loc, scale = stats.lognorm.fit(x, floc=0)
    assert params[0] == pytest.approx(s, rel=1e-4) and params[2] == pytest.approx(scale, rel=1e-4)
    assert loglik == pytest.approx(float(np.sum(stats.lognorm.logpdf(x, s, loc, scale))), rel=1e-6)


@pytest.mark.parametrize(
    ("family", "draw"),
    [
        ("lognormal", lambda r, n: r.lognormal(1.0, 1.0, n)),
        ("gamma", lambda r, n: r.gamma(0.4, 5.0, n)),
        ("weibull", lambda r, n: 4.0 * r.weibull(4.0, n)),
    ],
)
def test_aic_picks_the_generating_family(family: str, draw: object) -> None:
    """n = 5 000 per sample of clearly distinct shapes: the AIC gap to the runner-up is > 10.

    (Exponential data are left out on purpose: gamma and Weibull nest the exponential, so on
    such data AIC may prefer them by a margin below 2 — the next test covers that case.)
    """
    rng = np.random.default_rng(2026)
    x = draw(rng, 5_000)  # type: ignore[operator]
    fit = fit_duration(x)
    assert fit.family == family
    others = sorted(v for k, v in fit.aic.items() if k != family)
    assert others[0] - fit.aic[family] > 10


def test_exponential_data_fit_is_exponential_in_effect() -> None:
    x = np.random.default_rng(2026).exponential(3.0, 5_000)
    fit = fit_duration(x)
    assert fit.aic["exponential"] - min(fit.aic.values()) < 4
    assert fit.mean == pytest.approx(3.0, rel=0.05)


def test_nonpositive_values_are_dropped_and_counted() -> None:
    x = np.concatenate([np.random.default_rng(1).exponential(1.0, 100), [0.0, -1.0, np.nan]])
    fit = fit_duration(x)
    assert fit.n == 100 and fit.dropped_nonpositive == 2


def test_too_few_values_refused() -> None:
    with pytest.raises(CalibrationError):
        fit_duration(np.array([1.0]))


def test_poisson_rate_mle_per_hour_of_day() -> None:
    rng = np.random.default_rng(5)
    true = np.array([3.0] * 12 + [8.0] * 12)
    days = 200
    counts = rng.poisson(true * days)
    bins = np.repeat(np.arange(24), counts)
    fit = poisson_rates(bins, np.full(24, float(days)))
    assert fit.rates == pytest.approx(list(counts / days))
    se = fit.standard_errors()
    for r, t, s in zip(fit.rates, true, se, strict=True):
        assert abs(r - t) < 4 * s
    assert se[0] == pytest.approx(math.sqrt(counts[0]) / days)


def test_proportion_and_standard_error() -> None:
    p = Proportion(k=30, n=120)
    assert p.p == 0.25
    assert p.se == pytest.approx(math.sqrt(0.25 * 0.75 / 120))
    assert math.isnan(Proportion(0, 0).p)


def test_time_to_failure_from_exposure_recovers_the_mean() -> None:
    """Two units with exponential(240) clocks and 6 h repairs over 20 years of calendar time."""
    rng = np.random.default_rng(9)
    span, capacity = 175_200.0, 2
    downtimes: list[float] = []
    failures = 0
    for _ in range(capacity):
        t = 0.0
        while True:
            t += rng.exponential(240.0)
            if t >= span:
                break
            failures += 1
            down = min(rng.lognormal(math.log(6.0), 0.4), span - t)
            downtimes.append(down)
            t += down
    fit = exponential_mean_from_exposure(capacity, span, np.array(downtimes), failures)
    assert fit.mean == pytest.approx(240.0, rel=0.05)  # ~1 460 failures: SE ≈ 2.6%
    assert fit.exposure == pytest.approx(capacity * span - sum(downtimes))


def test_exposure_must_be_positive() -> None:
    with pytest.raises(CalibrationError):
        exponential_mean_from_exposure(1, 10.0, np.array([20.0]), 1)
