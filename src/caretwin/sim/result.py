"""Results of a simulation: KPIs per replication and their summary across replications.

This is the contract between engines and everything downstream (CLI, run record, reports,
experiments): an engine returns :class:`ReplicationResult` objects, and :func:`summarise`
turns them into a :class:`SimulationResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from caretwin.sim.frames import pandas

if TYPE_CHECKING:
    import pandas as pd

# Interval and wait KPIs also feed a histogram of fixed bins, so a report can draw the
# distribution of, e.g., ED length of stay from any number of replications in bounded memory.
HIST_BIN_H = 0.25
HIST_BINS = 288  # 0..72 h; the last bin also collects everything longer


@dataclass
class ReplicationResult:
    replication: int
    kpis: dict[str, float]
    events: int
    # Per resource: mean units held in each day of the run window (beds held by blocked or
    # boarding patients count), for occupancy-over-time plots.
    occupancy_daily: dict[str, np.ndarray] = field(default_factory=dict)
    # Per interval/wait KPI: counts per HIST_BIN_H bin.
    histograms: dict[str, np.ndarray] = field(default_factory=dict)
    # Per wait KPI: batch means of its waits in the order they ended (caretwin.sim.stability),
    # for the trend test that flags runaway replications.
    trend: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def runaway(self) -> bool:
        """Whether a queue of this replication trends upward (see :mod:`caretwin.sim.stability`)."""
        from caretwin.sim.stability import is_runaway

        return is_runaway(self.trend)


@dataclass(frozen=True)
class KpiSummary:
    mean: float
    ci95: float  # half-width of the 95% t-interval of the mean across replications
    sd: float
    n: int
    label: str
    unit: str

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci95": self.ci95, "sd": self.sd, "n": self.n}


def t_quantile(p: float, dof: int) -> float:
    """Student-t quantile; scipy.special's inverse CDF, imported only when needed because
    importing scipy.stats would add half a second to every CLI call."""
    from scipy.special import stdtrit

    return float(stdtrit(dof, p))


def summarise_values(values: list[float] | np.ndarray) -> tuple[float, float, float, int]:
    """Mean, 95% CI half-width (Student t), sd and count of the finite values."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(arr.mean())
    if n == 1:
        return mean, math.nan, math.nan, 1
    sd = float(arr.std(ddof=1))
    half = float(t_quantile(0.975, n - 1) * sd / math.sqrt(n))
    return mean, half, sd, n


@dataclass
class SimulationResult:
    model_name: str
    model_hash: str
    scenario: str
    seed: int
    replications: list[ReplicationResult]
    summary: dict[str, KpiSummary]
    wall_seconds: float
    workers: int = 1
    engine: str = "reference"  # which engine ran it ("fast" or "reference"): same numbers
    # third-party plugins the run used (engine, KPI kinds): {name, distribution, version}
    plugins: list[dict[str, str]] = field(default_factory=list)
    executor: str = "local"

    @property
    def events(self) -> int:
        return sum(r.events for r in self.replications)

    @property
    def runaway_share(self) -> float:
        """Share of replications whose queues trend upward (they stay in every mean)."""
        if not self.replications:
            return math.nan
        return sum(r.runaway for r in self.replications) / len(self.replications)

    def kpi_means(self) -> dict[str, float]:
        return {k: s.mean for k, s in self.summary.items()}

    def occupancy_daily_mean(self) -> dict[str, np.ndarray]:
        """Per resource, the across-replication mean of daily occupancy."""
        out: dict[str, np.ndarray] = {}
        if not self.replications:
            return out
        for name in self.replications[0].occupancy_daily:
            out[name] = np.mean([r.occupancy_daily[name] for r in self.replications], axis=0)
        return out

    def histogram(self, kpi: str) -> np.ndarray:
        hists = [r.histograms[kpi] for r in self.replications if kpi in r.histograms]
        total: np.ndarray = np.sum(hists, axis=0) if hists else np.zeros(HIST_BINS, dtype=np.int64)
        return total

    def to_frame(self) -> pd.DataFrame:
        """The KPI summary as a pandas DataFrame: one row per KPI (the index), with label, unit,
        mean, ci95 (half-width of the 95% interval of the mean), sd and n."""
        rows = [
            {"kpi": k, "label": s.label, "unit": s.unit, "mean": s.mean, "ci95": s.ci95}
            | {"sd": s.sd, "n": s.n}
            for k, s in self.summary.items()
        ]
        columns = ["kpi", "label", "unit", "mean", "ci95", "sd", "n"]
        return pandas().DataFrame(rows, columns=columns).set_index("kpi")

    def replications_frame(self) -> pd.DataFrame:
        """Per-replication KPI values as a pandas DataFrame: one row per replication."""
        rows = [{"replication": r.replication, **r.kpis} for r in self.replications]
        columns = ["replication", *self.summary]
        return pandas().DataFrame(rows, columns=columns).set_index("replication")

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "model_hash": self.model_hash,
            "scenario": self.scenario,
            "seed": self.seed,
            "replications": len(self.replications),
            "events": self.events,
            "wall_seconds": self.wall_seconds,
            "engine": self.engine,
            "executor": self.executor,
            "workers": self.workers,
            "kpis": {k: s.to_json() for k, s in self.summary.items()},
            "runaway_share": self.runaway_share,
            "runaway_replications": [r.replication for r in self.replications if r.runaway],
            "per_replication": [r.kpis for r in self.replications],
        }


def summarise(
    replications: list[ReplicationResult], labels: dict[str, tuple[str, str]]
) -> dict[str, KpiSummary]:
    """Summary per KPI; ``labels`` maps KPI name to (label, unit)."""
    out: dict[str, KpiSummary] = {}
    for name, (label, unit) in labels.items():
        mean, half, sd, n = summarise_values([r.kpis.get(name, math.nan) for r in replications])
        out[name] = KpiSummary(mean=mean, ci95=half, sd=sd, n=n, label=label, unit=unit)
    return out
