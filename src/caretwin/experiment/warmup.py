"""How long a warm-up? Welch's graphical method on daily occupancy from an empty start.

Welch (1983), as in Law, *Simulation Modeling and Analysis*: average a time series across
replications, smooth it with a centred moving average of half-window ``w`` (shorter, symmetric
windows at the start), and truncate where the smoothed curve has settled. "Settled" is made
explicit here: the first day from which the moving average stays within ``tolerance`` (a share)
of its final level, the level being the mean of the moving average's second half.

The engine reports occupancy per day *of the run window* only, so the advisor runs the model
with ``warmup_days = 0``: the series then starts at time 0 with an empty hospital and shows the
whole transient. The answer is in days from an empty start; it is read against the model's
``warmup_days``. A resource that is also loaded by what happens before time 0 in reality (e.g.
patients already in beds) is better served by a warm-up at least this long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WarmupAdvice", "moving_average", "truncation_point"]


@dataclass(frozen=True)
class WarmupAdvice:
    resource: str
    window: int
    tolerance: float
    replications: int
    mean_series: list[float]  # across-replication mean, one value per day from t = 0
    moving_average: list[float]  # Welch's smoothed series (len = days − window)
    level: float
    truncation_days: int | None  # None: not settled within the first half of the series
    current_warmup_days: float

    @property
    def sufficient(self) -> bool | None:
        if self.truncation_days is None:
            return None
        return self.current_warmup_days >= self.truncation_days

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "window": self.window,
            "tolerance": self.tolerance,
            "replications": self.replications,
            "level": self.level,
            "truncation_days": self.truncation_days,
            "current_warmup_days": self.current_warmup_days,
            "sufficient": self.sufficient,
            "mean_series": self.mean_series,
            "moving_average": self.moving_average,
        }


def moving_average(series: np.ndarray, w: int) -> np.ndarray:
    """Welch's moving average: centred window ``2w + 1``, shrinking symmetrically at the start.

    Defined for the first ``m − w`` points of a series of length ``m``.
    """
    y = np.asarray(series, dtype=float)
    m = y.size
    if m <= w:
        raise ValueError(f"the series ({m} days) must be longer than the window ({w})")
    csum = np.concatenate([[0.0], np.cumsum(y)])
    out = np.empty(m - w)
    for i in range(m - w):  # 0-based: point i averages y[i - h .. i + h]
        h = min(i, w)
        out[i] = (csum[i + h + 1] - csum[i - h]) / (2 * h + 1)
    return out


def truncation_point(ma: np.ndarray, tolerance: float) -> tuple[int | None, float]:
    """First index from which ``ma`` stays within ``tolerance`` of its level, and the level.

    ``None`` when that index lies in the second half (the series is too short to tell).
    """
    level = float(np.mean(ma[ma.size // 2 :]))
    band = tolerance * abs(level)
    outside = np.nonzero(np.abs(ma - level) > band)[0]
    first = 0 if outside.size == 0 else int(outside[-1]) + 1
    if first > ma.size // 2:
        return None, level
    return first, level


def welch(
    resource: str,
    series: list[np.ndarray],
    *,
    window: int,
    tolerance: float,
    current_warmup_days: float,
) -> WarmupAdvice:
    """Welch's method on per-replication daily series (day 0 = empty start)."""
    days = min(s.size for s in series)
    mean = np.mean([s[:days] for s in series], axis=0)
    ma = moving_average(mean, window)
    first, level = truncation_point(ma, tolerance)
    return WarmupAdvice(
        resource=resource,
        window=window,
        tolerance=tolerance,
        replications=len(series),
        mean_series=[float(v) for v in mean],
        moving_average=[float(v) for v in ma],
        level=level if math.isfinite(level) else math.nan,
        truncation_days=first,
        current_warmup_days=current_warmup_days,
    )
