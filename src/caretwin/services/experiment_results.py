"""What ``run_experiment`` returns: the recorded outputs as typed models, plus the findings.

The fields are those of the run record's ``outputs`` (``ExperimentResult.to_outputs``), so the
JSON a front end prints is the recorded one with the run's id, folder and report added, and the
advisors' and searches' one-line ``findings``, worded here once for every front end.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from caretwin.experiment import ExperimentResult
from caretwin.services.results import ServiceResult

__all__ = [
    "Advisors",
    "CiPoint",
    "ExperimentRun",
    "ExperimentVariant",
    "KpiStats",
    "ReplicationAdvice",
    "SearchEvidence",
    "SearchProbe",
    "SweepAxis",
    "TargetSearch",
    "VsBaseline",
    "WarmupAdvice",
]

Value = int | float


class KpiStats(ServiceResult):
    mean: float
    ci95: float
    sd: float
    n: int


class VsBaseline(ServiceResult):
    """A variant's KPI against the baseline's on common random numbers."""

    n: int
    baseline_mean: float
    variant_mean: float
    difference: float
    paired_ci95: float
    unpaired_ci95: float
    variance_reduction: float

    @property
    def paired_significant(self) -> bool:
        """The paired 95% interval of the difference excludes 0."""
        return math.isfinite(self.paired_ci95) and abs(self.difference) > self.paired_ci95


class ExperimentVariant(ServiceResult):
    kind: str
    scenario: str | None
    overrides: dict[str, Value]
    model_hash: str
    summary: dict[str, KpiStats]
    per_replication: dict[str, list[float | None]]
    vs_baseline: dict[str, VsBaseline]


class SweepAxis(ServiceResult):
    path: str
    values: list[Value]


class CiPoint(ServiceResult):
    """The 95% half-width of a KPI's mean after ``n`` replications (``relative``: to |mean|)."""

    n: int
    mean: float
    half_width: float
    relative: float | None


class ReplicationAdvice(ServiceResult):
    """Replications needed for the KPI's 95% half-width to stay within ``target``
    (``recommended`` None: not reached in ``replications_run``)."""

    kpi: str
    target: float
    relative: bool
    k_limit: int
    recommended: int | None
    replications_run: int
    path: list[CiPoint]


class WarmupAdvice(ServiceResult):
    """Welch's method on a pool's daily occupancy (``truncation_days`` None: not settled)."""

    resource: str
    window: int
    tolerance: float
    replications: int
    level: float
    truncation_days: int | None
    current_warmup_days: float
    sufficient: bool | None
    mean_series: list[float]
    moving_average: list[float]


class Advisors(ServiceResult):
    replications: ReplicationAdvice | None
    warmup: WarmupAdvice | None


class SearchProbe(ServiceResult):
    value: Value
    mean: float
    ci95: float
    n: int
    met: bool
    confident: bool


class SearchEvidence(ServiceResult):
    chosen: SearchProbe | None
    previous: SearchProbe | None


class TargetSearch(ServiceResult):
    """The smallest value of ``vary`` meeting the goal (``chosen`` None: none in the range)."""

    kpi: str
    direction: str
    goal: float
    vary: str
    fixed: dict[str, Value]
    method: str
    candidates: list[Value]
    chosen: Value | None
    met_with_95pct_confidence: bool | None
    evidence: SearchEvidence
    probes: list[SearchProbe]
    notes: list[str]


class ExperimentRun(ServiceResult):
    """A recorded experiment. ``variants`` are in run order, the baseline first."""

    run_id: str
    run_dir: Path
    report: Path | None
    model: str
    model_hash: str
    replications: int
    seed: int
    simulated_replications: int
    kpi_names: list[str]
    sweeps: list[SweepAxis]
    variants: dict[str, ExperimentVariant]
    advisors: Advisors
    search: list[TargetSearch]
    findings: list[str]

    @classmethod
    def of(
        cls,
        run_id: str,
        folder: Path,
        result: ExperimentResult,
        outputs: dict[str, Any],
        report: Path | None,
    ) -> ExperimentRun:
        return cls.model_validate(
            {
                "run_id": run_id,
                "run_dir": folder,
                "report": report,
                **outputs,
                "simulated_replications": result.simulated_replications,
                "findings": findings(result),
            }
        )


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:.1f}"


def findings(result: ExperimentResult) -> list[str]:
    """One line per advisor and per target search."""
    lines = []
    rep = result.replication_advice
    if rep is not None:
        lines.append(
            f"replications advisor ({rep.kpi}): recommended n = {rep.recommended}"
            if rep.recommended is not None
            else f"replications advisor ({rep.kpi}): not settled in {rep.replications_run}"
        )
    warm = result.warmup_advice
    if warm is not None:
        lines.append(
            f"warm-up advisor ({warm.resource}): settles after {warm.truncation_days} days "
            f"(model warm-up {warm.current_warmup_days:g} days)"
            if warm.truncation_days is not None
            else f"warm-up advisor ({warm.resource}): not settled; run the advisor longer"
        )
    for s in result.searches:
        where = ", ".join(f"{p}={v}" for p, v in s.fixed.items())
        prefix = f"search {s.vary}" + (f" [{where}]" if where else "")
        if s.chosen is None:
            lines.append(f"{prefix}: goal not met in the range")
        else:
            p = s.probe(s.chosen)
            assert p is not None
            conf = "met with 95% confidence" if s.confident else "met by the mean only"
            lines.append(
                f"{prefix}: smallest = {s.chosen} ({s.kpi} {_fmt(p.mean)} ± {_fmt(p.ci95)}, {conf})"
            )
    return lines
