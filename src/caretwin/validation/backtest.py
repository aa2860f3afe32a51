"""Rolling-origin backtests: calibrate on a window, predict the next period, roll on.

Each fold calibrates the plan's template on ``[train_start, origin)`` (nothing after the origin
is seen), simulates the calibrated twin for exactly the predicted period's length after the
template's warm-up, and compares every KPI the lake observes for arrivals in ``[origin, end)``
with the simulated distribution of that period: the central ``interval`` (default 90 %) of the
replications is the prediction interval, the observed value's rank among them its PIT.

The intervals come from replications of the calibrated point estimate: they hold the period's
own randomness, not the uncertainty of the fitted parameters (``intervals_from`` in the
scorecard says so), which is why their coverage is the honest test of a twin near a tipping
point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from caretwin.calibrate import calibrate_lake
from caretwin.calibrate.extract import extract
from caretwin.calibrate.kpis import kpis_from_extract, occupancy_units
from caretwin.lake import Lake
from caretwin.model.definition import (
    IntervalKpi,
    OccupancyKpi,
    ResourceKind,
    TwinDefinition,
    WaitKpi,
)
from caretwin.sim.runner import simulate
from caretwin.validation.byhour import hour_groups, observed_by_hour, simulated_by_hour
from caretwin.validation.plan import ValidationPlan
from caretwin.validation.scorecard import Fold, Prediction
from caretwin.validation.stats import pit

__all__ = ["INTERVALS_FROM", "Backtest", "kpi_units", "run_backtest", "with_unit_occupancy"]

INTERVALS_FROM = "replications of the calibrated twin (the period's randomness, not parameters)"

Step = Callable[[str], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _hours(d: date) -> float:
    return (datetime(d.year, d.month, d.day, tzinfo=UTC) - _EPOCH).total_seconds() / 3600.0


@dataclass(frozen=True)
class Backtest:
    folds: list[Fold]
    predictions: list[Prediction]
    kpis: list[str]
    labels: dict[str, str]
    units: dict[str, str]
    data_hash: str
    template_hash: str


def with_unit_occupancy(template: TwinDefinition) -> TwinDefinition:
    """The template with a time-average occupancy KPI for every bed pool that has none, so
    every bed unit is validated (``<pool>_occupancy_mean``)."""
    covered = {k.resource for k in template.kpis.values() if isinstance(k, OccupancyKpi)}
    extra = {
        f"{name}_occupancy_mean": OccupancyKpi(
            label=f"{res.label or name} occupied", unit="beds", resource=name
        )
        for name, res in template.resources.items()
        if res.kind == ResourceKind.bed and name not in covered
    }
    if not extra:
        return template
    return template.model_copy(update={"kpis": {**template.kpis, **extra}})


def _step_unit(defn: TwinDefinition, ref: str) -> str | None:
    pathway, _, step_id = ref.partition(".")
    pw = defn.pathways.get(pathway)
    if pw is None:
        return None
    try:
        step = pw.step(step_id)
    except KeyError:
        return None
    for r in step.acquire:
        return defn.resources[r].unit or r
    return None


def kpi_units(defn: TwinDefinition) -> dict[str, str]:
    """The unit (Location code) each KPI describes: its pool's, its first step's pool's, or the
    pool an interval ends by releasing; ``hospital`` when none."""
    out: dict[str, str] = {}
    for name, k in defn.kpis.items():
        unit: str | None = None
        if isinstance(k, OccupancyKpi):
            res = defn.resources.get(k.resource)
            unit = (res.unit or k.resource) if res else None
        elif isinstance(k, WaitKpi):
            unit = _step_unit(defn, k.steps[0])
        elif isinstance(k, IntervalKpi) and k.end.startswith("release:"):
            pool = k.end.split(":", 1)[1]
            res = defn.resources.get(pool)
            unit = (res.unit or pool) if res else None
        out[name] = unit or "hospital"
    return out


def _period_model(defn: TwinDefinition, days: int, warmup: float | None) -> TwinDefinition:
    update: dict[str, float] = {"run_days": float(days)}
    if warmup is not None:
        update["warmup_days"] = warmup
    return defn.model_copy(update={"run": defn.run.model_copy(update=update)})


def _f(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def predict(
    fold: int, kpi: str, unit: str, group: str, samples: np.ndarray, observed: float, level: float
) -> Prediction:
    s = samples[np.isfinite(samples)]
    if s.size < 2:
        return Prediction(
            fold=fold, kpi=kpi, unit=unit, group=group, observed=_f(observed), mean=None,
            sd=None, lo=None, hi=None, pit=None, covered=None,
        )  # fmt: skip
    tail = (1 - level) / 2
    lo, hi = (float(v) for v in np.quantile(s, [tail, 1 - tail]))
    covered = bool(lo <= observed <= hi) if math.isfinite(observed) else None
    return Prediction(
        fold=fold,
        kpi=kpi,
        unit=unit,
        group=group,
        observed=_f(observed),
        mean=float(s.mean()),
        sd=float(s.std(ddof=1)),
        lo=lo,
        hi=hi,
        pit=_f(pit(s, observed)),
        covered=covered,
    )


def run_backtest(
    lake: Lake,
    plan: ValidationPlan,
    template: TwinDefinition,
    *,
    workers: int = 1,
    on_step: Step | None = None,
) -> Backtest:
    """Every fold of ``plan`` on ``lake``: calibrate, simulate, compare."""
    step = on_step or (lambda _m: None)
    template = with_unit_occupancy(template)
    units = kpi_units(template)
    occupancy = occupancy_units(template)
    ex = extract(lake)
    folds: list[Fold] = []
    preds: list[Prediction] = []
    kpis: list[str] = []
    data_hash = ""
    sim_cfg = plan.simulation
    for i, (train_start, origin, end) in enumerate(plan.data.fold_windows()):
        step(f"fold {i + 1}/{plan.data.folds}: calibrate on {train_start} .. {origin}")
        cal = calibrate_lake(lake, template, train_start, origin)
        data_hash = cal.data_hash
        twin = _period_model(cal.definition, (end - origin).days, sim_cfg.warmup_days)
        folds.append(
            Fold(
                index=i,
                train_start=train_start,
                origin=origin,
                end=end,
                model_hash=cal.definition.content_hash(),
            )
        )
        step(f"fold {i + 1}/{plan.data.folds}: predict {origin} .. {end}")
        seed = sim_cfg.seed + 1009 * i
        sim = simulate(twin, replications=sim_cfg.replications, seed=seed, workers=workers)
        observed = kpis_from_extract(ex, _hours(origin), _hours(end), occupancy)
        if not kpis:
            wanted = plan.kpis or list(observed)
            kpis = [k for k in wanted if k in observed and k in sim.summary]
        for k in kpis:
            samples = np.array([r.kpis.get(k, math.nan) for r in sim.replications])
            preds.append(predict(i, k, units[k], "all", samples, observed[k], plan.interval))
        if plan.by_hour is not None:
            bh = plan.by_hour
            names: list[str] = [k for k in bh.kpis if k in twin.kpis]
            obs_h = observed_by_hour(ex, _hours(origin), _hours(end), names, bh.bin_hours)
            sim_h = simulated_by_hour(twin, names, bh.bin_hours, bh.replications, seed)
            for k in names:
                for j, group in enumerate(hour_groups(bh.bin_hours)):
                    preds.append(
                        predict(i, k, units[k], group, sim_h[k][:, j], obs_h[k][j], plan.interval)
                    )
    labels = {k: getattr(template.kpis.get(k), "label", None) or k for k in kpis}
    return Backtest(
        folds=folds,
        predictions=preds,
        kpis=kpis,
        labels={k: str(v) for k, v in labels.items()},
        units={k: units[k] for k in kpis},
        data_hash=data_hash,
        template_hash=template.content_hash(),
    )
