"""Paired and unpaired comparisons of a variant with the baseline, per KPI.

Every variant runs with the same seed, so replication ``i`` of the variant and of the baseline
see the same random draws wherever the model lets them (common random numbers). The *paired*
estimate of the difference is the mean of the per-replication differences with a Student-t
interval on their spread; the *unpaired* one treats the two samples as independent (Welch's
interval). Both estimate the same difference — the point estimates are equal — but when the
draws are shared the paired interval is narrower: ``variance_reduction`` says by how much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["Comparison", "compare_values"]


@dataclass(frozen=True)
class Comparison:
    kpi: str
    n: int  # replications with a finite value in both variants
    baseline_mean: float
    variant_mean: float
    difference: float  # variant − baseline (mean of paired differences)
    paired_ci95: float  # half-width, t with n−1 df on the differences
    unpaired_ci95: float  # half-width, Welch's t on the two samples
    variance_reduction: float  # 1 − var(differences) / (var(baseline) + var(variant))

    @property
    def paired_significant(self) -> bool:
        return math.isfinite(self.paired_ci95) and abs(self.difference) > self.paired_ci95

    @property
    def unpaired_significant(self) -> bool:
        return math.isfinite(self.unpaired_ci95) and abs(self.difference) > self.unpaired_ci95

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "baseline_mean": self.baseline_mean,
            "variant_mean": self.variant_mean,
            "difference": self.difference,
            "paired_ci95": self.paired_ci95,
            "unpaired_ci95": self.unpaired_ci95,
            "variance_reduction": self.variance_reduction,
        }


def _t(df: float) -> float:
    return float(stats.t.ppf(0.975, df))


def _welch_half_width(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se2 = va + vb
    if se2 == 0.0:
        return 0.0
    # Welch–Satterthwaite degrees of freedom.
    df = se2**2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return _t(df) * math.sqrt(se2)


def compare_values(kpi: str, baseline: list[float], variant: list[float]) -> Comparison:
    """Compare per-replication values; replication ``i`` of both sides forms a pair."""
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(variant, dtype=float)
    if a.size != b.size:
        raise ValueError("paired comparison needs the same replications on both sides")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(a.size)
    nan = math.nan
    if n == 0:
        return Comparison(kpi, 0, nan, nan, nan, nan, nan, nan)
    d = b - a
    diff = float(d.mean())
    if n < 2:
        return Comparison(kpi, n, float(a.mean()), float(b.mean()), diff, nan, nan, nan)
    sd_d = float(d.std(ddof=1))
    paired = _t(n - 1) * sd_d / math.sqrt(n)
    pooled = float(a.var(ddof=1) + b.var(ddof=1))
    reduction = 1.0 - sd_d**2 / pooled if pooled > 0 else nan
    return Comparison(
        kpi=kpi,
        n=n,
        baseline_mean=float(a.mean()),
        variant_mean=float(b.mean()),
        difference=diff,
        paired_ci95=paired,
        unpaired_ci95=_welch_half_width(a, b),
        variance_reduction=reduction,
    )
