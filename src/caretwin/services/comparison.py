"""A recorded run's scenarios side by side with its baseline, KPI by KPI, with 95% intervals.

Every scenario of a run is simulated with the same seed and replications, so replication ``i``
of a scenario and of the baseline saw the same random draws wherever the model lets them
(common random numbers): the difference is estimated from the paired per-replication values
(:func:`caretwin.experiment.compare_values`), which gives a narrower interval than comparing
the two means. Everything comes from the run's record (its outputs and its copy of the model),
so the comparison of an old run needs no re-run.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from caretwin.access import Permission
from caretwin.errors import ConfigError, DefinitionError
from caretwin.experiment.compare import compare_values
from caretwin.model import load_definition
from caretwin.runs import run_dir
from caretwin.runs.recorder import get_run
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult
from caretwin.sim.result import summarise_values

__all__ = ["KpiComparison", "RunComparison", "ScenarioComparison", "run_comparison"]

BASELINE = "baseline"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class KpiComparison(BaseModel):
    """One KPI: baseline and scenario means with their 95% CI half-widths, and the paired
    difference (scenario − baseline) with its interval ``[difference_low, difference_high]``.
    ``excludes_zero``: that interval does not contain 0 (a difference the replications show,
    not noise). Figures a run could not estimate (one replication, no patients) are null."""

    model_config = ConfigDict(frozen=True)

    kpi: str
    label: str
    unit: str
    n: int
    baseline_mean: float | None
    baseline_ci95: float | None
    scenario_mean: float | None
    scenario_ci95: float | None
    difference: float | None
    difference_ci95: float | None
    difference_low: float | None
    difference_high: float | None
    excludes_zero: bool


class ScenarioComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenario: str
    description: str
    kpis: list[KpiComparison]


class RunComparison(ServiceResult):
    """Every scenario of a run against its baseline (95% intervals, paired differences)."""

    run_id: str
    model: str
    model_hash: str
    baseline: str
    replications: int
    seed: int
    scenarios: list[ScenarioComparison]


def _kpi(kpi: str, label: str, unit: str, base: list[float], alt: list[float]) -> KpiComparison:
    b_mean, b_ci, _, _ = summarise_values(base)
    s_mean, s_ci, _, _ = summarise_values(alt)
    c = compare_values(kpi, base, alt)
    half = _finite(c.paired_ci95)
    diff = _finite(c.difference)
    low = None if diff is None or half is None else diff - half
    high = None if diff is None or half is None else diff + half
    return KpiComparison(
        kpi=kpi,
        label=label,
        unit=unit,
        n=c.n,
        baseline_mean=_finite(b_mean),
        baseline_ci95=_finite(b_ci),
        scenario_mean=_finite(s_mean),
        scenario_ci95=_finite(s_ci),
        difference=diff,
        difference_ci95=half,
        difference_low=low,
        difference_high=high,
        excludes_zero=low is not None and high is not None and (low > 0 or high < 0),
    )


def _values(per_replication: list[dict[str, Any]], kpi: str) -> list[float]:
    return [float(rep.get(kpi, math.nan)) for rep in per_replication]


def run_comparison(ctx: ServiceContext, run_id: str) -> RunComparison:
    """Each scenario of simulation run ``run_id`` against its baseline, KPI by KPI."""
    with ctx.operation("runs.comparison", Permission.RUNS_READ, target=run_id) as op:
        manifest = get_run(ctx.workspace, run_id)
        scenarios: dict[str, Any] = manifest.outputs.get("scenarios") or {}
        if manifest.kind != "simulate" or not scenarios:
            raise ConfigError(
                f"run {run_id} is not a finished simulation: nothing to compare",
                details={"run_id": run_id, "kind": manifest.kind},
            )
        if BASELINE not in scenarios:
            raise ConfigError(
                f"run {run_id} has no baseline to compare with (scenarios: {', '.join(scenarios)})",
                details={"run_id": run_id},
            )
        labels: dict[str, tuple[str, str]] = {}
        descriptions: dict[str, str] = {}
        try:
            defn = load_definition(run_dir(ctx.workspace, run_id) / "model.yaml")
            labels = {k: (c.label or k, c.unit) for k, c in defn.kpis.items()}
            descriptions = {k: s.description for k, s in defn.scenarios.items()}
        except DefinitionError:
            pass  # the run folder's copy is gone: KPI names stand in for labels
        base = scenarios[BASELINE]
        out = []
        for name, result in scenarios.items():
            if name == BASELINE:
                continue
            kpis = []
            for k in base["kpis"]:
                if k not in result["kpis"]:
                    continue
                label, unit = labels.get(k, (k, ""))
                base_values = _values(base["per_replication"], k)
                kpis.append(
                    _kpi(k, label, unit, base_values, _values(result["per_replication"], k))
                )
            out.append(
                ScenarioComparison(scenario=name, description=descriptions.get(name, ""), kpis=kpis)
            )
        op.details["scenarios"] = len(out)
        return RunComparison(
            run_id=run_id,
            model=manifest.model_name or "",
            model_hash=manifest.model_hash or "",
            baseline=BASELINE,
            replications=manifest.replications or 0,
            seed=manifest.seed or 0,
            scenarios=out,
        )
