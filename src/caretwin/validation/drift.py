"""Drift: do the recent data still look like what the twin was calibrated on?

After an ingest, the last :data:`WINDOW_DAYS` full days of data *after* the calibration window
are observed exactly as calibration observes them (:func:`caretwin.calibrate.observations.observe`,
right-censoring included) and compared with the calibrated parameters, allowing for both the
calibration's uncertainty and the recent sample's:

* arrival rates by hour bin: z = (k − λ̂e) / sqrt(φλ̂e + e²·Var(λ̂)) per bin, Σz² against χ²
  with one degree of freedom per bin;
* length of stay of every fitted duration: the recent window refitted with the same family,
  z = (mean_recent − mean_calibrated) / sqrt(se_recent² + se_calibrated²);
* routing shares: χ² test of homogeneity of the calibration's and the recent branch counts.

Each check needs :data:`MIN_N` recent observations. The alert is raised when any check's p-value
is below α = 0.01 divided by the number of checks (Bonferroni: one false alarm in a hundred
ingests of a hospital that did not change), and names what moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np

from caretwin.calibrate.extract import Extract
from caretwin.calibrate.fit import default_window, hours, to_date
from caretwin.calibrate.fitting import fit_duration
from caretwin.calibrate.observations import observe
from caretwin.calibrate.params import fit_rates
from caretwin.calibrate.uncertainty import duration_uncertainty, mean_and_se
from caretwin.errors import CalibrationError
from caretwin.model import TwinDefinition

__all__ = ["ALPHA", "MIN_N", "WINDOW_DAYS", "DriftItem", "DriftResult", "check_drift"]

WINDOW_DAYS = 28
MIN_DAYS = 7
MIN_N = 30
ALPHA = 0.01


@dataclass(frozen=True)
class DriftItem:
    parameter: str  # e.g. "arrivals.ed.rates", "pathways.ed.ward.duration"
    calibrated: float  # the mean rate, mean duration or first share
    recent: float
    n: int  # recent observations
    pvalue: float
    moved: bool
    detail: str = ""


@dataclass
class DriftResult:
    date_from: date | None
    date_to: date | None
    alert: bool = False
    items: list[DriftItem] = field(default_factory=list)
    note: str = ""

    @property
    def moved(self) -> list[DriftItem]:
        return [i for i in self.items if i.moved]

    def message(self) -> str:
        if not self.alert:
            return self.note or "no drift: the recent data agree with the calibrated parameters"
        names = "; ".join(
            f"{i.parameter} (calibrated {i.calibrated:.4g}, recent {i.recent:.4g},"
            f" p={i.pvalue:.2g})"
            for i in self.moved
        )
        return (
            f"drift alert, {self.date_from} to {self.date_to}: {names}. The twin's parameters no"
            " longer describe the recent data: recalibrate (caretwin calibrate) before trusting"
            " its forecasts."
        )


def _chi2_sf(x: float, df: int) -> float:
    from scipy import stats

    return float(stats.chi2.sf(x, df))


def _normal_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def _rates(
    name: str, d: dict[str, Any], arrivals: np.ndarray, start: float, end: float
) -> DriftItem:
    counts_c, exp_c = np.asarray(d["counts"], float), np.asarray(d["exposure_h"], float)
    phi = float(d.get("dispersion", 1.0))
    _, recent = fit_rates(arrivals, start, end, counts_c.size)
    k, e = np.asarray(recent["counts"], float), np.asarray(recent["exposure_h"], float)
    lam = np.divide(counts_c, exp_c, out=np.zeros_like(counts_c), where=exp_c > 0)
    var = phi * lam * e + e * e * phi * np.divide(
        counts_c, exp_c * exp_c, out=np.zeros_like(counts_c), where=exp_c > 0
    )
    used = var > 0
    z = (k[used] - lam[used] * e[used]) / np.sqrt(var[used])
    p = _chi2_sf(float(np.sum(z * z)), int(used.sum()))
    worst = np.argsort(-np.abs(z))[:3]
    bins = np.flatnonzero(used)[worst]
    detail = ", ".join(
        f"bin {int(b)}: z={float(z[w]):+.1f}" for b, w in zip(bins, worst, strict=True)
    )
    # the mean rate per hour, calibrated and recent
    cal_rate = float(counts_c.sum() / exp_c.sum()) if exp_c.sum() else 0.0
    rec_rate = float(k.sum() / e.sum()) if e.sum() else 0.0
    return DriftItem(name, cal_rate, rec_rate, int(k.sum()), p, False, detail)


def check_drift(
    ex: Extract, calibrated: TwinDefinition, window_days: int = WINDOW_DAYS
) -> DriftResult:
    """Compare the recent data in ``ex`` with ``calibrated`` (module docstring)."""
    prov = calibrated.provenance or {}
    diag = prov.get("diagnostics", {})
    if not prov.get("date_to") or not diag:
        return DriftResult(None, None, note="the model is not a calibrated definition")
    arrivals = ex.ed["arrival"][np.isfinite(ex.ed["arrival"])]
    if arrivals.size == 0:
        return DriftResult(None, None, note="no ED arrivals in the lake")
    end_h = hours(default_window(arrivals)[1])
    start_h = max(hours(date.fromisoformat(prov["date_to"])), end_h - 24.0 * window_days)
    if end_h - start_h < 24.0 * MIN_DAYS:
        return DriftResult(
            None, None, note=f"fewer than {MIN_DAYS} days of data after the calibration window"
        )
    obs = observe(ex, calibrated, start_h, end_h)
    res = DriftResult(to_date(start_h), to_date(end_h))
    for name, d in diag.items():
        parts = name.split(".")
        if parts[0] == "arrivals" and parts[-1] == "rates" and obs.ed_arrivals.size >= MIN_N:
            res.items.append(_rates(name, d, obs.ed_arrivals, start_h, end_h))
        elif parts[-1] == "duration" and "theta" in d.get("uncertainty", {}):
            key = f"{parts[1]}.{parts[2]}"
            x = obs.durations.get(key, np.empty(0))
            c = obs.censored.get(key, np.empty(0))
            if x.size < MIN_N:
                continue
            try:
                fit = fit_duration(x, families=(d["family"],), censored=c)
            except CalibrationError:
                continue
            u = duration_uncertainty(fit, x, c)
            if "theta" not in u:
                continue
            m_r, se_r = mean_and_se(d["family"], u)
            m_c, se_c = mean_and_se(d["family"], d["uncertainty"])
            z = (m_r - m_c) / math.sqrt(se_r**2 + se_c**2)
            res.items.append(DriftItem(name, m_c, m_r, int(x.size), _normal_p(z), False))
        elif parts[-1] == "next" and isinstance(d.get("counts"), dict):
            key = f"{parts[1]}.{parts[2]}"
            targets = list(d["counts"])
            recent = np.asarray([obs.branches.get((key, t), 0) for t in targets], float)
            cal = np.asarray([d["counts"][t] for t in targets], float)
            if recent.sum() < MIN_N or cal.sum() == 0:
                continue
            table = np.vstack([cal, recent])[:, (cal + recent) > 0]
            if table.shape[1] < 2:
                continue
            expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
            chi2 = float(np.sum((table - expected) ** 2 / expected))
            p = _chi2_sf(chi2, table.shape[1] - 1)
            res.items.append(
                DriftItem(
                    name,
                    float(cal[0] / cal.sum()),
                    float(recent[0] / recent.sum()),
                    int(recent.sum()),
                    p,
                    False,
                    f"share of {targets[0]}",
                )
            )
    if res.items:
        level = ALPHA / len(res.items)
        res.items = [replace(i, moved=i.pvalue < level) for i in res.items]
        res.alert = any(i.moved for i in res.items)
    return res
