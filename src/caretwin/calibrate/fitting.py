"""The statistical core of calibration: maximum-likelihood fits on plain numpy arrays.

Kept free of the lake and of the twin definition so each estimator can be tested on seeded
samples whose true parameters are known. Choices and why:

* Durations: exponential, lognormal, gamma and Weibull fitted by MLE with ``loc`` fixed at 0 (a
  duration cannot be negative and a free location makes the likelihood degenerate), the family
  chosen by AIC. Intervals still open when observation stops enter as *right-censored* values
  (the time elapsed so far): the log-likelihood is Σ log f(x) over completed intervals plus
  Σ log S(c) over censored ones, computed here for every family so the AICs are comparable.
  Dropping open intervals instead would bias long stays low, because the longer a stay, the more
  likely it is still open at the cut-off. Exponential and lognormal have fast exact solvers
  (events / total time; a Tobit likelihood on log scale); gamma and Weibull use scipy's
  ``CensoredData`` fit started from the uncensored MLE. The KS statistic is computed on the
  completed values only, against the chosen fit: with censoring those values under-represent
  long durations, and the parameters were estimated from the same sample (Lilliefors), so its
  p-value is only indicative.
* Arrival rates: a Poisson process observed for ``days`` days has MLE count / exposure per
  hour-of-day bin, with standard error sqrt(count) / exposure.
* Time to failure: with exponential clocks the MLE under right censoring is events / exposure, so
  the clocks never need to be labelled per unit (see :func:`exponential_mean_from_exposure`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from caretwin.errors import CalibrationError
from caretwin.model import Exponential, Gamma, LogNormal, Weibull
from caretwin.model.distributions import Distribution
from caretwin.plugins.specs import FittedFamily, FitterSpec

FAMILIES: tuple[str, ...] = ("exponential", "lognormal", "gamma", "weibull")

log = logging.getLogger(__name__)

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
    n_censored: int = 0

    @property
    def mean(self) -> float:
        return self.distribution.mean()

    @property
    def n_uncensored(self) -> int:
        """Completed intervals (events); ``n`` counts these and the censored ones."""
        return self.n - self.n_censored

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
            "n_censored": int(self.n_censored),
            "n_uncensored": int(self.n_uncensored),
            "method": (
                "right-censored MLE, loc 0; family by AIC on the censored log-likelihood"
                if self.n_censored
                else "MLE, loc 0; family by AIC"
            ),
            "aic": {k: _finite(v) for k, v in self.aic.items()},
            "ks": {"statistic": float(self.ks_statistic), "pvalue": float(self.ks_pvalue)},
            "ks_sample": "uncensored values only (indicative: parameters fitted on them)",
            "sample_mean_of": "uncensored values only",
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


def log_likelihood(
    family: str, params: tuple[float, ...], x: np.ndarray, censored: np.ndarray | None = None
) -> float:
    """Σ log f(x) over completed values plus Σ log S(c) over right-censored ones."""
    dist, _ = _SCIPY[family]
    ll = float(np.sum(dist.logpdf(x, *params)))
    if censored is not None and censored.size:
        ll += float(np.sum(dist.logsf(censored, *params)))
    return ll


def _lognormal_censored(x: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """Tobit MLE of (mu, sigma) of log duration with right censoring, by L-BFGS on
    (mu, log sigma) with the analytic gradient, started from the uncensored closed form."""
    z, w = np.log(x), np.log(c)
    d = z.size

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        mu, log_s = float(theta[0]), float(theta[1])
        s = math.exp(log_s)
        r = (z - mu) / s
        u = (w - mu) / s
        log_surv = special.log_ndtr(-u)
        # inverse Mills ratio φ(u) / (1 − Φ(u)), computed in logs for large u
        mills = np.exp(-0.5 * u * u - 0.5 * math.log(2 * math.pi) - log_surv)
        ll = -d * log_s - 0.5 * float(r @ r) + float(log_surv.sum())
        g_mu = float(r.sum()) / s + float(mills.sum()) / s
        g_log_s = -d + float(r @ r) + float(mills @ u)
        return -ll, -np.array([g_mu, g_log_s])

    theta0 = np.array([float(z.mean()), math.log(max(float(z.std()), 1e-6))])
    res = optimize.minimize(nll, theta0, jac=True, method="L-BFGS-B")
    return float(res.x[0]), math.exp(float(res.x[1]))


def fit_family(
    x: np.ndarray, family: str, censored: np.ndarray | None = None
) -> tuple[tuple[float, ...], float]:
    """MLE parameters (scipy order, loc included) and log-likelihood of one family.

    ``x`` are completed durations, ``censored`` the elapsed times of intervals still open (the
    true duration exceeds them). Without censored values every family has its plain MLE.
    """
    dist, _ = _SCIPY[family]
    c = np.empty(0) if censored is None else np.asarray(censored, dtype=np.float64)
    params: tuple[float, ...]
    if family == "lognormal":
        if c.size:
            mu, s = _lognormal_censored(x, c)
        else:
            # Closed form with loc = 0: the MLE of (mu, sigma) on log x (ddof 0).
            logs = np.log(x)
            mu, s = float(logs.mean()), float(logs.std())
        params = (s, 0.0, math.exp(mu))
    elif family == "exponential":
        # Events / total time at risk (closed form under right censoring too).
        params = (0.0, float((x.sum() + c.sum()) / x.size))
    else:
        start = tuple(float(p) for p in dist.fit(x, floc=0))
        if c.size:
            data = stats.CensoredData(uncensored=x, right=c)
            params = tuple(float(p) for p in dist.fit(data, start[0], scale=start[-1], floc=0))
        else:
            params = start
    return params, log_likelihood(family, params, x, c)


def fitted_family(family: str, x: np.ndarray, censored: np.ndarray) -> FittedFamily:
    """One of CareTwin's families fitted to ``x`` (its fitter in the ``register_fitters`` hook).
    The distribution is ``None`` when the fitted parameters are not a valid model distribution
    (a degenerate fit), so the family is not chosen."""
    params, loglik = fit_family(x, family, censored)
    try:
        model: Distribution | None = _to_model(family, params)
    except (ValueError, ArithmeticError):  # pydantic's ValidationError is a ValueError
        model = None
    dist = _SCIPY[family][0]

    def cdf(v: np.ndarray) -> np.ndarray:
        # a closure, not functools.partial: scipy's kstest gets NaN from a partial of rv.cdf
        return np.asarray(dist.cdf(v, *params))

    return FittedFamily(model, loglik, cdf)


def _fitters() -> dict[str, FitterSpec]:
    from caretwin.plugins import registry

    return {name: p.spec for name, p in registry.fitters().items()}


def fitter_plugin_refs() -> list[dict[str, str]]:
    """The manifest entries of the third-party fitters: every registered family is a candidate,
    so each can change which family a calibration chooses."""
    from caretwin.plugins import registry
    from caretwin.plugins.manager import third_party_refs

    return third_party_refs([p.plugin for p in registry.fitters().values()])


def fit_duration(
    values: np.ndarray,
    families: tuple[str, ...] | None = None,
    censored: np.ndarray | None = None,
) -> DurationFit:
    """Fit every candidate family to the positive values and keep the lowest AIC.

    ``families`` defaults to every registered fitter (the ``register_fitters`` hook: CareTwin's
    :data:`FAMILIES`, then plugins'). ``censored`` are right-censored observations: the time
    elapsed so far of intervals still open when observation stopped. They enter the likelihood
    through the survival function. Non-positive censored values carry no information
    (S(0) = 1) and are dropped and counted.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    positive = x[x > 0]
    c = np.empty(0) if censored is None else np.asarray(censored, dtype=np.float64)
    c = c[np.isfinite(c)]
    c_positive = c[c > 0]
    if positive.size < 2:
        raise CalibrationError(f"cannot fit a duration to {positive.size} positive values")
    fitters = _fitters()
    names = families if families is not None else tuple(fitters)
    unknown = [f for f in names if f not in fitters]
    if unknown:
        raise CalibrationError(
            f"unknown duration families: {', '.join(unknown)} (fitters: {', '.join(fitters)})"
        )
    aic: dict[str, float] = {}
    fitted: dict[str, FittedFamily] = {}
    for family in names:
        spec = fitters[family]
        try:
            with np.errstate(all="ignore"):
                fit = spec.fit(positive, c_positive)
        except (ValueError, ArithmeticError, RuntimeError) as exc:
            log.info("duration family %s not fitted: %s", family, exc)
            aic[family] = math.inf
            continue
        loglik = fit.log_likelihood
        aic[family] = 2 * spec.n_params - 2 * loglik if math.isfinite(loglik) else math.inf
        fitted[family] = fit
    usable = [f for f in aic if f in fitted and fitted[f].distribution is not None]
    best = min(usable, key=lambda f: aic[f], default=None)
    if best is None or not math.isfinite(aic[best]):
        raise CalibrationError("no candidate family has a finite likelihood")
    chosen = fitted[best]
    assert chosen.distribution is not None
    ks = stats.kstest(positive, chosen.cdf)
    return DurationFit(
        family=best,
        distribution=chosen.distribution,
        n=int(positive.size + c_positive.size),
        aic=aic,
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        sample_mean=float(positive.mean()),
        dropped_nonpositive=int(x.size - positive.size + c.size - c_positive.size),
        n_censored=int(c_positive.size),
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
