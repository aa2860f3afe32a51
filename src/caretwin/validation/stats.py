"""The statistical tests that decide acceptance criteria (``docs/validation.md`` states each).

Backtest outcomes are not independent: the KPIs of one predicted period share its arrivals and
its calibration, and consecutive periods share most of their training data. So:

* coverage: an exact two-sided binomial test of the hit count against the nominal level, on an
  *effective* sample size ``n / deff``, where the design effect ``deff`` (>= 1) is the variance
  of the hit counts of blocks (one block per predicted period) over their binomial variance;
* bias: a t-test of the mean error with a Newey-West (Bartlett kernel) standard error, lag
  ``floor(4 (n/100)^(2/9))`` but at least 1, on ``n - 1`` degrees of freedom;
* PIT uniformity: Pearson's chi-square over equal-width bins, divided by the same kind of
  design effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TestOutcome",
    "binomial_blocks",
    "chi2_blocks",
    "design_effect",
    "newey_west_t",
    "pit",
]


@dataclass(frozen=True)
class TestOutcome:
    statistic: float
    p_value: float
    n: int
    n_effective: float
    estimate: float


def design_effect(hits: np.ndarray, blocks: np.ndarray) -> float:
    """Variance inflation of the hit count from within-block correlation (>= 1)."""
    p = float(hits.mean()) if hits.size else math.nan
    ids = np.unique(blocks)
    if ids.size < 2 or not 0 < p < 1:
        return 1.0
    sizes = np.array([np.sum(blocks == b) for b in ids], dtype=float)
    sums = np.array([hits[blocks == b].sum() for b in ids], dtype=float)
    observed = float(np.sum((sums - sizes * p) ** 2)) * ids.size / (ids.size - 1)
    expected = float(np.sum(sizes * p * (1 - p)))
    return max(1.0, observed / expected)


def binomial_blocks(hits: np.ndarray, blocks: np.ndarray, level: float) -> TestOutcome:
    """Two-sided exact binomial test of coverage == ``level`` on the effective sample."""
    from scipy.stats import binomtest

    n = int(hits.size)
    if n == 0:
        return TestOutcome(math.nan, math.nan, 0, 0.0, math.nan)
    k = int(hits.sum())
    deff = design_effect(hits.astype(float), blocks)
    n_eff = max(1, round(n / deff))
    k_eff = min(n_eff, round(k / deff))
    p = float(binomtest(k_eff, n_eff, level, alternative="two-sided").pvalue)
    return TestOutcome(float(k) / n, p, n, n / deff, float(k) / n)


def newey_west_t(errors: np.ndarray) -> TestOutcome:
    """t-test of mean error == 0 with a Newey-West HAC standard error (errors in time order)."""
    from scipy.stats import t as student_t

    e = errors[np.isfinite(errors)]
    n = int(e.size)
    if n < 3:
        return TestOutcome(math.nan, math.nan, n, float(n), float(e.mean()) if n else math.nan)
    mean = float(e.mean())
    d = e - mean
    lag = max(1, math.floor(4 * (n / 100) ** (2 / 9)))
    var = float(d @ d) / n
    for j in range(1, min(lag, n - 1) + 1):
        var += 2 * (1 - j / (lag + 1)) * float(d[j:] @ d[:-j]) / n
    if var <= 0:
        return TestOutcome(math.nan, 1.0 if mean == 0 else 0.0, n, float(n), mean)
    se = math.sqrt(var / n)
    stat = mean / se
    p = float(2 * student_t.sf(abs(stat), n - 1))
    n_eff = n * (float(d @ d) / n) / var
    return TestOutcome(stat, p, n, n_eff, mean)


def chi2_blocks(pits: np.ndarray, blocks: np.ndarray, bins: int = 10) -> TestOutcome:
    """Chi-square test of PIT uniformity, deflated by the design effect of bin membership."""
    from scipy.stats import chi2

    x = pits[np.isfinite(pits)]
    b = blocks[np.isfinite(pits)]
    n = int(x.size)
    if n < bins:
        return TestOutcome(math.nan, math.nan, n, float(n), math.nan)
    idx = np.minimum((x * bins).astype(int), bins - 1)
    counts = np.bincount(idx, minlength=bins)
    expected = n / bins
    stat = float(np.sum((counts - expected) ** 2 / expected))
    # the largest design effect over the bins' membership indicators: conservative
    deff = max(design_effect((idx == i).astype(float), b) for i in range(bins))
    p = float(chi2.sf(stat / deff, bins - 1))
    return TestOutcome(stat / deff, p, n, n / deff, stat)


def pit(samples: np.ndarray, observed: float) -> float:
    """Probability integral transform of ``observed`` under the empirical distribution of
    ``samples`` (mid-rank for ties, so a point mass maps to its middle)."""
    s = samples[np.isfinite(samples)]
    if s.size == 0 or not math.isfinite(observed):
        return math.nan
    below = float(np.sum(s < observed))
    equal = float(np.sum(s == observed))
    return float((below + 0.5 * equal) / s.size)
