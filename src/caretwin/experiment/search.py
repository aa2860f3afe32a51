"""The smallest value of one parameter for which a KPI meets a goal.

The search walks a sorted list of candidate values. ``bisect`` assumes that once the goal is
met it stays met for larger values (more beds → shorter waits), which needs about log2(k)
evaluations instead of k; at the end it checks that assumption on the evaluated points — the
means must not move against the goal by more than their combined 95% half-widths — and, if it
fails, falls back to a scan of every value below the answer. ``scan`` evaluates every value.

"Met" means the mean across replications is on the goal's side; "met with 95% confidence"
means the whole 95% confidence interval is (for ``below``: mean + half-width < goal). The
answer is reported with its evidence: the KPI at the chosen value and at the next-smaller one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Probe", "SearchResult", "search_smallest"]

Value = int | float
Direction = Literal["below", "above"]


@dataclass(frozen=True)
class Probe:
    value: Value
    mean: float
    ci95: float
    n: int
    met: bool
    confident: bool  # the 95% CI lies entirely on the goal's side

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "mean": self.mean,
            "ci95": self.ci95,
            "n": self.n,
            "met": self.met,
            "confident": self.confident,
        }


@dataclass
class SearchResult:
    kpi: str
    direction: Direction
    goal: float
    vary: str
    fixed: dict[str, Value]  # values of the other sweep axes held during this search
    method: str
    candidates: list[Value]
    probes: list[Probe] = field(default_factory=list)  # in evaluation order
    chosen: Value | None = None
    notes: list[str] = field(default_factory=list)

    def probe(self, value: Value | None) -> Probe | None:
        return next((p for p in self.probes if p.value == value), None)

    @property
    def previous(self) -> Value | None:
        """The candidate just below the chosen value (the evidence that it is the smallest)."""
        if self.chosen is None:
            return None
        i = self.candidates.index(self.chosen)
        return self.candidates[i - 1] if i > 0 else None

    @property
    def confident(self) -> bool:
        p = self.probe(self.chosen)
        return bool(p and p.confident)

    def to_json(self) -> dict[str, Any]:
        chosen, previous = self.probe(self.chosen), self.probe(self.previous)
        return {
            "kpi": self.kpi,
            "direction": self.direction,
            "goal": self.goal,
            "vary": self.vary,
            "fixed": self.fixed,
            "method": self.method,
            "candidates": self.candidates,
            "chosen": self.chosen,
            "met_with_95pct_confidence": self.confident if self.chosen is not None else None,
            "evidence": {
                "chosen": chosen.to_json() if chosen else None,
                "previous": previous.to_json() if previous else None,
            },
            "probes": [p.to_json() for p in self.probes],
            "notes": self.notes,
        }


def _probe(
    value: Value, stats: tuple[float, float, int], direction: Direction, goal: float
) -> Probe:
    mean, half, n = stats
    half_ok = half if math.isfinite(half) else math.inf
    if direction == "below":
        met, confident = mean < goal, mean + half_ok < goal
    else:
        met, confident = mean > goal, mean - half_ok > goal
    return Probe(value, mean, half, n, bool(met), bool(confident))


def _against_goal(a: Probe, b: Probe, direction: Direction) -> bool:
    """``b`` (a larger value) is clearly worse than ``a``: beyond their combined half-widths."""
    worse = (b.mean - a.mean) if direction == "below" else (a.mean - b.mean)
    noise = math.hypot(a.ci95, b.ci95) if math.isfinite(a.ci95 + b.ci95) else math.inf
    return worse > noise


def search_smallest(
    candidates: list[Value],
    evaluate: Callable[[Value], tuple[float, float, int]],
    *,
    kpi: str,
    direction: Direction,
    goal: float,
    vary: str,
    fixed: dict[str, Value] | None = None,
    method: str = "bisect",
) -> SearchResult:
    """Find the smallest candidate meeting the goal; ``evaluate`` gives (mean, ci95, n)."""
    values = sorted(set(candidates))
    res = SearchResult(kpi, direction, goal, vary, dict(fixed or {}), method, values)
    seen: dict[Value, Probe] = {}

    def at(i: int) -> Probe:
        v = values[i]
        if v not in seen:
            seen[v] = _probe(v, evaluate(v), direction, goal)
            res.probes.append(seen[v])
        return seen[v]

    if method == "scan":
        met = [i for i in range(len(values)) if at(i).met]
        res.chosen = values[met[0]] if met else None
    else:
        res.chosen = _bisect(values, at)
        ordered = sorted(seen.values(), key=lambda p: p.value)
        if any(_against_goal(a, b, direction) for a, b in itertools.pairwise(ordered)):
            res.notes.append(
                "the KPI is not monotone in the evaluated values; every value below the "
                "bisection's answer was evaluated instead"
            )
            res.method = "bisect+scan"
            stop = values.index(res.chosen) if res.chosen is not None else len(values)
            met = [i for i in range(stop) if at(i).met]
            if met:
                res.chosen = values[met[0]]
    if res.chosen is None:
        res.notes.append(f"the goal is not met at any value up to {values[-1]}")
    elif res.previous is None:
        res.notes.append("the goal is already met at the smallest value searched")
    if res.chosen is not None and res.previous is not None:
        at(values.index(res.previous))  # the evidence row, if a scan skipped it
    return res


def _bisect(values: list[Value], at: Callable[[int], Probe]) -> Value | None:
    hi = len(values) - 1
    if not at(hi).met:
        return None
    if at(0).met:
        return values[0]
    lo = 0  # invariant: at(lo) not met, at(hi) met
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid).met:
            hi = mid
        else:
            lo = mid
    return values[hi]
