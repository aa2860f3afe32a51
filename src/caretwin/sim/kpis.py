"""KPI collection: per-patient samples and time-weighted occupancy, turned into KPI values.

Kept apart from the engine core so that any core (this one, or a faster one) feeds the same
collectors and every engine reports KPIs by exactly the same definitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caretwin.sim.compiled import CompiledModel
from caretwin.sim.result import ReplicationResult
from caretwin.sim.stability import batch_means


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


@dataclass
class Collected:
    """What an engine collected in one replication, for the KPIs' value functions
    (:class:`caretwin.plugins.specs.NativeKpi`): samples per KPI (by ``CKpi.index``), units held
    (``trackers``) and open capacity (``capacity``) per pool, requests and turned-away counts per
    pool, counted patients entering each step and leaving it unserved."""

    samples: list[list[float]]
    trackers: list[OccupancyTracker]
    requests: list[int]
    turned_away: list[int]
    capacity: list[OccupancyTracker] | None = None
    step_entries: list[int] | None = None
    reneged: list[int] | None = None


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
    """KPIs of one replication, each folded by its kind's value function; ``requests`` /
    ``turned_away`` count counted patients per pool, ``capacity`` tracks each pool's open
    (scheduled) capacity, ``step_entries``/``reneged`` count counted patients entering each step
    and leaving it unserved."""
    collected = Collected(samples, trackers, requests, turned_away, capacity, step_entries, reneged)
    kpis: dict[str, float] = {}
    hists: dict[str, np.ndarray] = {}
    for k in model.kpis:
        assert k.value is not None, f"KPI {k.name!r} was not compiled by its kind"
        value, hist = k.value(k, collected)
        kpis[k.name] = value
        if hist is not None:
            hists[k.name] = hist
    occupancy = {r.name: trackers[r.index].daily_means() for r in model.resources}
    trend = {k.name: batch_means(samples[k.index]) for k in model.kpis if k.kind == "wait"}
    return ReplicationResult(
        replication=replication,
        kpis=kpis,
        events=events,
        occupancy_daily=occupancy,
        histograms=hists,
        trend={k: v for k, v in trend.items() if v.size},
    )
