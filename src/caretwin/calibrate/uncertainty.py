"""The sampling uncertainty of every fitted parameter, and drawing parameter sets from it.

Method: the **observed information of the MLE**, from the same likelihoods the fitters maximise,
for every parameter; not a bootstrap over days or weeks. Why:

* It is what the fits already compute: a bootstrap would re-extract and refit the whole model
  (a censored gamma or Weibull fit per step) a few hundred times per calibration.
* Given the model's own assumptions (Poisson arrivals, independent stays) the observed
  information is the right sampling covariance, and with thousands of observations per
  parameter the normal approximation is accurate.
* The one assumption real data break first, Poisson arrivals, is checked: the weekly counts of
  each rate bin are tested for overdispersion (Pearson χ² / df); when the test rejects at 5 %
  the rates' variance is inflated by that factor (quasi-Poisson), which also absorbs the
  correlation between days of the same week that a day bootstrap would miss. Drift
  (:mod:`caretwin.validation.drift`) watches the other assumptions after each ingest.

What is recorded, next to each parameter's evidence in ``provenance.diagnostics``:

* rates: counts and exposure per bin (already there) and ``dispersion``; a draw is
  Gamma(k/φ, scale φ/exposure) per bin, whose mean and variance are the MLE k/e and φ·k/e²;
* routing shares: the branch counts (already there); a draw is Dirichlet(counts), mean k/n,
  covariance (diag p − p pᵀ)/(n + 1): the multinomial information, kept inside the simplex;
* exponential time to failure: failures and exposure; the rate is drawn Gamma(events,
  1/exposure) and the mean is its inverse;
* durations: ``uncertainty: {theta_names, theta, cov}``, the MLE on an unconstrained scale (log
  of positive parameters, μ of a lognormal) and the inverse of the numerically differentiated
  Hessian of the (right-censored) log-likelihood there; a draw is multivariate normal on that
  scale, so every drawn distribution is valid.

Arrival schedules of electives and capacities are counted, not estimated, and stay fixed.
Parameter groups are estimated from disjoint data and drawn independently.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from caretwin.calibrate.fitting import DurationFit, log_likelihood
from caretwin.model import Exponential, Gamma, LogNormal, TwinDefinition, Weibull
from caretwin.model.distributions import Distribution

__all__ = [
    "METHOD",
    "draw_parameters",
    "duration_uncertainty",
    "has_uncertainty",
    "mean_and_se",
    "rate_dispersion",
]

METHOD = (
    "observed information of the MLE (numerical Hessian of the censored log-likelihood on a"
    " log scale for durations; Poisson counts with a quasi-Poisson dispersion factor for rates;"
    " multinomial counts for routing shares); parameter groups independent"
)

_THETA_NAMES = {
    "exponential": ["log_mean"],
    "lognormal": ["mu", "log_sigma"],
    "gamma": ["log_shape", "log_scale"],
    "weibull": ["log_shape", "log_scale"],
}
_STEP = 1e-3  # finite-difference step on the log scale: curvature·h² ≫ rounding of the sum


def _theta(dist: Distribution) -> list[float] | None:
    if isinstance(dist, Exponential):
        return [math.log(dist.mean_)]
    if isinstance(dist, LogNormal):
        s = dist.sigma
        return [math.log(dist.mean_) - s * s / 2, math.log(s)]
    if isinstance(dist, Gamma | Weibull):
        return [math.log(dist.shape), math.log(dist.scale)]
    return None


def _scipy_params(family: str, theta: np.ndarray) -> tuple[float, ...]:
    if family == "exponential":
        return (0.0, math.exp(theta[0]))
    if family == "lognormal":
        return (math.exp(theta[1]), 0.0, math.exp(theta[0]))
    return (math.exp(theta[0]), 0.0, math.exp(theta[1]))


def _distribution(family: str, theta: np.ndarray) -> dict[str, Any]:
    if family == "exponential":
        return {"dist": "exponential", "mean": math.exp(theta[0])}
    if family == "lognormal":
        s = math.exp(theta[1])
        mean = math.exp(theta[0] + s * s / 2)
        return {"dist": "lognormal", "mean": mean, "sd": mean * math.sqrt(math.expm1(s * s))}
    return {"dist": family, "shape": math.exp(theta[0]), "scale": math.exp(theta[1])}


def duration_uncertainty(
    fit: DurationFit, x: np.ndarray, censored: np.ndarray | None = None
) -> dict[str, Any]:
    """Observed-information covariance of ``fit``'s parameters on the unconstrained scale.

    Returns ``{"theta_names", "theta", "cov"}``, or ``{"unavailable": reason}`` for a family
    without a CareTwin likelihood (a plugin's) or a Hessian that is not negative definite.
    """
    theta0 = _theta(fit.distribution)
    if theta0 is None or fit.family not in _THETA_NAMES:
        return {"unavailable": f"no likelihood for family {fit.family!r}: parameters kept fixed"}
    xs = np.asarray(x, dtype=np.float64)
    xs = xs[np.isfinite(xs) & (xs > 0)]
    cs = np.empty(0) if censored is None else np.asarray(censored, dtype=np.float64)
    cs = cs[np.isfinite(cs) & (cs > 0)]
    t0 = np.asarray(theta0)
    k = t0.size

    def ll(t: np.ndarray) -> float:
        return log_likelihood(fit.family, _scipy_params(fit.family, t), xs, cs)

    hess = np.empty((k, k))
    with np.errstate(all="ignore"):
        f0 = ll(t0)
        for i in range(k):
            for j in range(i, k):
                ei, ej = np.eye(k)[i] * _STEP, np.eye(k)[j] * _STEP
                if i == j:
                    h = (ll(t0 + ei) - 2 * f0 + ll(t0 - ei)) / _STEP**2
                else:
                    h = (
                        ll(t0 + ei + ej) - ll(t0 + ei - ej) - ll(t0 - ei + ej) + ll(t0 - ei - ej)
                    ) / (4 * _STEP**2)
                hess[i, j] = hess[j, i] = h
    info = -hess
    if not np.all(np.isfinite(info)) or np.any(np.linalg.eigvalsh(info) <= 0):
        return {"unavailable": "observed information not positive definite: parameters fixed"}
    cov = np.linalg.inv(info)
    return {
        "theta_names": _THETA_NAMES[fit.family],
        "theta": [float(v) for v in t0],
        "cov": [[float(v) for v in row] for row in cov],
    }


def rate_dispersion(
    arrival_bins: np.ndarray, week_index: np.ndarray, rates: list[float], exposure_per_week: float
) -> dict[str, float]:
    """Pearson χ²/df of the weekly counts per bin against the fitted rates, its p-value, and
    the factor applied (the ratio when the test rejects Poisson at 5 %, else 1)."""
    from scipy import stats

    weeks = int(week_index.max()) + 1 if week_index.size else 0
    nbins = len(rates)
    if weeks < 2:
        return {"pearson_ratio": 1.0, "pvalue": 1.0, "dispersion": 1.0, "weeks": float(weeks)}
    counts = np.zeros((weeks, nbins))
    np.add.at(counts, (week_index, arrival_bins), 1.0)
    expected = np.asarray(rates) * exposure_per_week
    used = expected > 0
    chi2 = float(np.sum((counts[:, used] - expected[used]) ** 2 / expected[used]))
    df = int(used.sum()) * (weeks - 1)
    ratio = chi2 / df if df else 1.0
    pvalue = float(stats.chi2.sf(chi2, df)) if df else 1.0
    return {
        "pearson_ratio": ratio,
        "pvalue": pvalue,
        "dispersion": ratio if pvalue < 0.05 and ratio > 1 else 1.0,
        "weeks": float(weeks),
    }


def has_uncertainty(defn: TwinDefinition) -> bool:
    """Whether ``defn`` is a calibrated definition whose provenance records uncertainty."""
    return bool((defn.provenance or {}).get("uncertainty_method"))


def _draw_rates(d: dict[str, Any], rng: np.random.Generator) -> list[float]:
    phi = float(d.get("dispersion", 1.0))
    out = []
    for k, e in zip(d["counts"], d["exposure_h"], strict=True):
        out.append(float(rng.gamma(k / phi, phi / e)) if k > 0 and e > 0 else 0.0)
    return out


def _draw_shares(counts: list[int], rng: np.random.Generator) -> list[float]:
    c = np.asarray(counts, dtype=np.float64)
    out = np.zeros_like(c)
    pos = c > 0
    out[pos] = rng.dirichlet(c[pos])
    return [float(v) for v in out]


def _draw_duration(u: dict[str, Any], family: str, rng: np.random.Generator) -> dict[str, Any]:
    theta = rng.multivariate_normal(np.asarray(u["theta"]), np.asarray(u["cov"]), method="cholesky")
    return _distribution(family, theta)


def draw_parameters(defn: TwinDefinition, rng: np.random.Generator) -> TwinDefinition:
    """One parameter set drawn from ``defn``'s recorded uncertainty (a copy; ``defn`` is the
    MLE). Parameters are visited in the provenance's order, so a seed gives one set."""
    from caretwin.model import definition_from_data

    diag: dict[str, Any] = (defn.provenance or {}).get("diagnostics", {})
    data = copy.deepcopy(defn.to_data())
    for path, d in diag.items():
        parts = path.split(".")
        if parts[0] == "arrivals" and parts[-1] == "rates":
            data["arrivals"][parts[1]]["rates"] = _draw_rates(d, rng)
        elif parts[0] == "pathways" and parts[-1] in ("duration", "next"):
            steps = data["pathways"][parts[1]]["steps"]
            step = next(s for s in steps if s["id"] == parts[2])
            if parts[-1] == "duration" and "theta" in d.get("uncertainty", {}):
                step["duration"] = _draw_duration(d["uncertainty"], d["family"], rng)
            elif parts[-1] == "next" and "counts" in d and isinstance(step.get("next"), list):
                shares = _draw_shares([d["counts"][r["to"]] for r in step["next"]], rng)
                step["next"] = [
                    {"to": r["to"], "p": p} for r, p in zip(step["next"], shares, strict=True)
                ]
        elif parts[0] == "resources" and parts[-1] == "failures" and "time_to_failure" in d:
            failures = data["resources"][parts[1]].get("failures")
            if failures is None:
                continue
            ttf = d["time_to_failure"]
            rate = rng.gamma(ttf["n"], 1.0 / ttf["exposure_h"])
            failures["time_to_failure"] = {"dist": "exponential", "mean": float(1.0 / rate)}
            rep = d["repair"]
            if "theta" in rep.get("uncertainty", {}):
                failures["repair"] = _draw_duration(rep["uncertainty"], rep["family"], rng)
    return definition_from_data(data, source="parameter draw")


def mean_and_se(family: str, u: dict[str, Any], draws: int = 400) -> tuple[float, float]:
    """A duration's mean at the MLE and its standard error (sd of the mean over ``draws``
    parameter draws from ``u``; a fixed seed, so the figure is reproducible)."""

    def mean_of(theta: np.ndarray) -> float:
        d = _distribution(family, theta)
        if family in ("exponential", "lognormal"):
            return float(d["mean"])
        if family == "gamma":
            return float(d["shape"] * d["scale"])
        return float(d["scale"] * math.gamma(1 + 1 / d["shape"]))

    theta = np.asarray(u["theta"])
    rng = np.random.default_rng(0)
    sample = rng.multivariate_normal(theta, np.asarray(u["cov"]), size=draws, method="cholesky")
    return mean_of(theta), float(np.std([mean_of(t) for t in sample], ddof=1))
