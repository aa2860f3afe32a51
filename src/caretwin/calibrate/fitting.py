"""The statistical core of calibration: maximum-likelihood fits on plain numpy arrays.

Kept free of the lake and of the twin definition so each estimator can be tested on seeded
samples whose true parameters are known. Choices and why:

* Durations: exponential, lognormal, gamma and Weibull fitted by MLE with ``loc`` fixed at 0 (a
  duration cannot be negative and a free location makes the likelihood degenerate), the family
  chosen by AIC. The KS statistic is reported against the chosen fit; its p-value is only
  indicative because the parameters were estimated from the same sample (Lilliefors).
* Arrival rates: a Poisson process observed for ``days`` days has MLE count / exposure per
  hour-of-day bin, with standard error sqrt(count) / exposure.
* Time to failure: with exponential clocks the MLE under right censoring is events / exposure, so
  the clocks never need to be labelled per unit (see :func:`exponential_mean_from_exposure`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from caretwin.errors import CalibrationError
from caretwin.model import Exponential, Gamma, LogNormal, Weibull
from caretwin.model.distributions import Distribution

FAMILIES: tuple[str, ...] = ("exponential", "lognormal", "gamma", "weibull")

# scipy distribution and number of free parameters (loc is fixed) per family.
_SCIPY: dict[str, tuple[Any, int]] = {
    "exponential": (stats.expon, 1),
    "lognormal": (stats.lognorm, 2),
    "gamma": (stats.gamma, 2),
    "weibull": (stats.weibull_min, 2),
}


@dataclass(frozen=True)
class DurationFit:
    """The chosen family for one sample, with the evidence that chose it."""

    family: str
    distribution: Distribution
    n: int
    aic: dict[str, float]
    ks_statistic: float
    ks_pvalue: float
    sample_mean: float
    dropped_nonpositive: int = 0

    @property
    def mean(self) -> float:
        return self.distribution.mean()

    def diagnostics(self) -> dict[str, Any]:
        """Plain data for the provenance header (no numpy scalars: it goes into YAML)."""
        params = self.distribution.model_dump(by_alias=True)
        params.pop("dist", None)
        return {
            "family": self.family,
            "params": {k: float(v) for k, v in params.items()},
            "mean": float(self.mean),
            "sample_mean": float(self.sample_mean),
            "n": int(self.n),
            "aic": {k: _finite(v) for k, v in self.aic.items()},
            "ks": {"statistic": float(self.ks_statistic), "pvalue": float(self.ks_pvalue)},
            "dropped_nonpositive": int(self.dropped_nonpositive),
        }


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _to_model(family: str, params: tuple[float, ...]) -> Distribution:
    """scipy's parameterisation to the twin definition's (means and sds the YAML reader sees)."""
    if family == "exponential":
        return Exponential(mean_=params[-1])
    if family == "lognormal":
        s, scale = params[0], params[-1]
        mu = math.log(scale)
        mean = math.exp(mu + s * s / 2)
        return LogNormal(mean_=mean, sd=mean * math.sqrt(math.expm1(s * s)))
    if family == "gamma":
        return Gamma(shape=params[0], scale=params[-1])
    if family == "weibull":
        return Weibull(shape=params[0], scale=params[-1])
    raise ValueError(f"unknown family {family!r}")


def fit_family(x: np.ndarray, family: str) -> tuple[tuple[float, ...], float]:
    """MLE parameters (scipy order, loc included) and log-likelihood of one family."""
    dist, _ = _SCIPY[family]
    if family == "lognormal":
        # Closed form with loc = 0: the MLE of (mu, sigma) on log x (ddof 0).
        logs = np.log(x)
        params: tuple[float, ...] = (float(logs.std()), 0.0, float(math.exp(logs.mean())))
    elif family == "exponential":
        params = (0.0, float(x.mean()))
    else:
        params = tuple(float(p) for p in dist.fit(x, floc=0))
    loglik = float(np.sum(dist.logpdf(x, *params)))
    return params, loglik


def fit_duration(values: np.ndarray, families: tuple[str, ...] = FAMILIES) -> DurationFit:
    """Fit every candidate family to the positive values and keep the lowest AIC."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    positive = x[x > 0]
    if positive.size < 2:
        raise CalibrationError(f"cannot fit a duration to {positive.size} positive values")
    aic: dict[str, float] = {}
    fitted: dict[str, tuple[float, ...]] = {}
    for family in families:
        with np.errstate(all="ignore"):
            params, loglik = fit_family(positive, family)
        k = _SCIPY[family][1]
        aic[family] = 2 * k - 2 * loglik if math.isfinite(loglik) else math.inf
        fitted[family] = params
    best = min(aic, key=lambda f: aic[f])
    if not math.isfinite(aic[best]):
        raise CalibrationError("no candidate family has a finite likelihood")
    dist, _ = _SCIPY[best]
    ks = stats.kstest(positive, dist.cdf, args=fitted[best])
    return DurationFit(
        family=best,
        distribution=_to_model(best, fitted[best]),
        n=int(positive.size),
        aic=aic,
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        sample_mean=float(positive.mean()),
        dropped_nonpositive=int(x.size - positive.size),
    )


@dataclass(frozen=True)
class RateFit:
    """Poisson rates (patients per hour) per time bin (hour of day or of week)."""

    rates: list[float]
    counts: list[int]
    exposure_h: list[float]

    def standard_errors(self) -> list[float]:
        return [
            math.sqrt(c) / e if e else 0.0
            for c, e in zip(self.counts, self.exposure_h, strict=True)
        ]


def poisson_rates(arrival_bins: np.ndarray, exposure_h: np.ndarray) -> RateFit:
    """Poisson MLE per bin: arrivals in the bin / hours of exposure of that bin.

    For 24 hour-of-day bins over whole days the exposure of every bin is the number of days, so
    this is the brief's "count by arrival hour / number of days".
    """
    exposure = np.asarray(exposure_h, dtype=np.float64)
    if exposure.sum() <= 0:
        raise CalibrationError("the arrival window must span at least one hour")
    counts = np.bincount(np.asarray(arrival_bins, dtype=np.int64), minlength=exposure.size)
    rates = [float(c) / float(e) if e > 0 else 0.0 for c, e in zip(counts, exposure, strict=True)]
    return RateFit(
        rates=rates, counts=[int(c) for c in counts], exposure_h=[float(e) for e in exposure]
    )


@dataclass(frozen=True)
class Proportion:
    """A binomial share: the MLE k / n and its standard error."""

    k: int
    n: int

    @property
    def p(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def se(self) -> float:
        return math.sqrt(self.p * (1 - self.p) / self.n) if self.n else math.nan


@dataclass(frozen=True)
class ExposureFit:
    """Exponential mean from events and exposure (right-censored clocks)."""

    events: int
    exposure: float
    details: dict[str, float] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return self.exposure / self.events if self.events else math.inf


def exponential_mean_from_exposure(
    capacity: int, span: float, downtimes: np.ndarray, failures: int
) -> ExposureFit:
    """MLE of an exponential time to failure when each of ``capacity`` clocks runs all the time
    except from its failure report to the end of its repair.

    Exposure = capacity × span − Σ downtime; the censored exponential MLE is exposure / events,
    which needs no record of which unit's clock fired.
    """
    down = float(np.sum(np.asarray(downtimes, dtype=np.float64)))
    exposure = capacity * span - down
    if exposure <= 0:
        raise CalibrationError("device exposure is not positive: check capacity and work orders")
    return ExposureFit(
        events=failures,
        exposure=exposure,
        details={"capacity": float(capacity), "span_h": float(span), "downtime_h": down},
    )
