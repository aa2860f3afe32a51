"""Runaway replications: queues that trend upward without bound, found by a trend test.

A replication's waits at each wait KPI, in the order the waits end, are cut into
:data:`BATCHES` batches of equal count and averaged. Batching turns a strongly autocorrelated
series (a busy period lasts days) into nearly independent means; the Mann–Kendall statistic of
those means tests "no monotone trend" against "upward trend". A stable queue, however loaded,
has stationary batch means; a queue whose arrivals exceed its service capacity has waits that
grow with time, so nearly every later batch exceeds every earlier one. The test is one-sided at
:data:`ALPHA` (not a fixed wait threshold): a replication is *runaway* when any of its wait KPIs
trends upward at that level. With 20 batches, a monotone run has S = 190 (Z ≈ 5.4).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ALPHA", "BATCHES", "Z_CRITICAL", "batch_means", "is_runaway", "mann_kendall_z"]

BATCHES = 20
ALPHA = 0.001
Z_CRITICAL = 3.090232306167813  # one-sided standard normal quantile at ALPHA


def batch_means(values: list[float] | np.ndarray, batches: int = BATCHES) -> np.ndarray:
    """Means of ``batches`` consecutive batches of equal count (empty when too few values)."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size // batches
    if n < 2:
        return np.empty(0)
    means: np.ndarray = x[: n * batches].reshape(batches, n).mean(axis=1)
    return means


def mann_kendall_z(x: np.ndarray) -> float:
    """The Mann–Kendall Z of ``x`` (continuity-corrected, ties ignored): positive for an
    upward trend, standard normal under no trend; 0 for fewer than 3 values."""
    n = x.size
    if n < 3:
        return 0.0
    diff = np.sign(x[None, :] - x[:, None])
    s = float(np.triu(diff, 1).sum())
    var = n * (n - 1) * (2 * n + 5) / 18.0
    if s > 0:
        return (s - 1) / math.sqrt(var)
    if s < 0:
        return (s + 1) / math.sqrt(var)
    return 0.0


def is_runaway(trend: dict[str, np.ndarray]) -> bool:
    """Whether any series of batch means trends upward at :data:`ALPHA`."""
    return any(mann_kendall_z(v) > Z_CRITICAL for v in trend.values())
