"""KPI collection: per-patient samples and time-weighted occupancy, turned into KPI values.

Kept apart from the engine core so that any core (this one, or a faster one) feeds the same
collectors and every engine reports KPIs by exactly the same definitions.
"""

from __future__ import annotations

import math

import numpy as np

from caretwin.sim.compiled import CKpi, CompiledModel
from caretwin.sim.result import HIST_BIN_H, HIST_BINS, ReplicationResult


class OccupancyTracker:
    """Time integral of units held, over the run window and per day of it.

    ``change(t, busy)`` is called with the new count after every change; the integral of the
    previous level from the last change to ``t`` is added, split across day boundaries.
    """

    __slots__ = ("_days", "_last_t", "_level", "area", "daily", "max_level", "w0", "w1")

    def __init__(self, w0: float, w1: float) -> None:
        self.w0 = w0
        self.w1 = w1
        self._days = max(1, math.ceil((w1 - w0) / 24.0 - 1e-9))
        self.daily = [0.0] * self._days
        self.area = 0.0
        self.max_level = 0
        self._last_t = 0.0
        self._level = 0

    def change(self, t: float, level: int) -> None:
        a = self._last_t if self._last_t > self.w0 else self.w0
        b = t if t < self.w1 else self.w1
        lvl = self._level
        if b > a and lvl:
            self.area += lvl * (b - a)
            day = int((a - self.w0) // 24.0)
            while a < b:
                edge = self.w0 + (day + 1) * 24.0
                seg_end = b if b < edge else edge
                if day < self._days:
                    self.daily[day] += lvl * (seg_end - a)
                a = seg_end
                day += 1
        if self._last_t <= self.w0 < t and lvl > self.max_level:
            self.max_level = lvl  # the level carried into the window
        if self.w0 <= t < self.w1 and level > self.max_level:
            self.max_level = level
        self._last_t = t
        self._level = level

    def close(self) -> None:
        """Account for the level held from the last change to the end of the window."""
        if self._last_t < self.w1:
            self.change(self.w1, self._level)

    def mean(self) -> float:
        return self.area / (self.w1 - self.w0)

    def daily_means(self) -> np.ndarray:
        out = np.asarray(self.daily, dtype=float) / 24.0
        # the last day may be partial when the window is not whole days
        span = self.w1 - self.w0 - 24.0 * (self._days - 1)
        if 0 < span < 24.0:
            out[-1] = self.daily[-1] / span
        return out


def _stat(values: np.ndarray, k: CKpi) -> float:
    if k.stat == "count":
        return float(values.size)
    if values.size == 0:
        return math.nan
    if k.stat == "mean":
        return float(values.mean())
    if k.stat == "pct_over":
        assert k.threshold is not None
        return float(100.0 * np.count_nonzero(values > k.threshold) / values.size)
    q = {"median": 50.0, "p90": 90.0, "p95": 95.0}[k.stat]
    return float(np.percentile(values, q))


def replication_result(
    model: CompiledModel,
    replication: int,
    samples: list[list[float]],
    trackers: list[OccupancyTracker],
    events: int,
    requests: list[int],
    turned_away: list[int],
    *,
    capacity: list[OccupancyTracker] | None = None,
    step_entries: list[int] | None = None,
    reneged: list[int] | None = None,
) -> ReplicationResult:
    """KPIs of one replication; ``requests``/``turned_away`` count counted patients per pool,
    ``capacity`` tracks each pool's open (scheduled) capacity, ``step_entries``/``reneged``
    count counted patients entering each step and leaving it unserved."""
    kpis: dict[str, float] = {}
    hists: dict[str, np.ndarray] = {}
    for i, k in enumerate(model.kpis):
        if k.kind == "utilisation":
            held = trackers[k.resource].area
            open_area = capacity[k.resource].area if capacity else math.nan
            kpis[k.name] = 100.0 * held / open_area if open_area else math.nan
            continue
        if k.kind == "reneged":
            left = sum(reneged[s] for s in k.steps) if reneged else 0
            entered = sum(step_entries[s] for s in k.steps) if step_entries else 0
            if k.stat == "count":
                kpis[k.name] = float(left)
            else:
                kpis[k.name] = 100.0 * left / entered if entered else math.nan
            continue
        if k.kind == "occupancy":
            tr = trackers[k.resource]
            kpis[k.name] = tr.mean() if k.stat == "mean" else float(tr.max_level)
            continue
        if k.kind == "turned_away":
            n, lost = requests[k.resource], turned_away[k.resource]
            if k.stat == "count":
                kpis[k.name] = float(lost)
            else:
                kpis[k.name] = 100.0 * lost / n if n else math.nan
            continue
        arr = np.asarray(samples[i], dtype=float)
        kpis[k.name] = _stat(arr, k)
        if k.stat != "count":
            idx = np.minimum((arr / HIST_BIN_H).astype(np.int64), HIST_BINS - 1)
            hists[k.name] = np.bincount(idx, minlength=HIST_BINS)
    occupancy = {r.name: trackers[r.index].daily_means() for r in model.resources}
    return ReplicationResult(
        replication=replication,
        kpis=kpis,
        events=events,
        occupancy_daily=occupancy,
        histograms=hists,
    )
