"""The demo's held-out comparison (moved here from the demo service): each observed KPI of one
held-out period next to the simulated periods of its length (mean and mean ± 1.96 sd).

It stays in the demo's JSON as a description; whether the twin *predicts* a KPI is decided by
the scorecard (:mod:`caretwin.validation.criteria`), not by a value falling inside a wide range.
"""

from __future__ import annotations

from dataclasses import dataclass

from caretwin.sim.result import SimulationResult

__all__ = ["HoldoutRow", "holdout_rows"]


@dataclass(frozen=True)
class HoldoutRow:
    kpi: str
    observed: float
    simulated_mean: float
    simulated_low: float
    simulated_high: float


def holdout_rows(observed: dict[str, float], simulated: SimulationResult) -> list[HoldoutRow]:
    """Observed against simulated per KPI; the low end floored at 0 where no replication is
    negative (times, counts and shares cannot be)."""
    rows = []
    for name, value in observed.items():
        s = simulated.summary.get(name)
        if s is None:
            continue
        reps = [r.kpis.get(name, float("nan")) for r in simulated.replications]
        lo, hi = s.mean - 1.96 * s.sd, s.mean + 1.96 * s.sd
        if min(reps) >= 0:
            lo = max(lo, 0.0)
        rows.append(HoldoutRow(name, value, s.mean, lo, hi))
    return rows
