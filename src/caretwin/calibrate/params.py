"""Fitting the parameters that are not step durations: arrivals, routing, capacity, devices.

Each function returns the new YAML value and a diagnostics dict for the provenance header, and
appends to ``problems`` instead of raising, so one calibration reports every thin parameter at
once rather than the first one it meets.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from caretwin.calibrate.fitting import (
    Proportion,
    exponential_mean_from_exposure,
    fit_duration,
    poisson_rates,
)
from caretwin.calibrate.uncertainty import duration_uncertainty, rate_dispersion
from caretwin.model import Route
from caretwin.model.definition import Weekday

# Unix epoch day 0 (1970-01-01) was a Thursday: weekday index 3 with Monday = 0.
_EPOCH_WEEKDAY = 3
_EPOCH_HOUR_OF_WEEK = _EPOCH_WEEKDAY * 24


def sig(x: float) -> float:
    """Six significant digits: what a reader of the YAML can use, without float noise."""
    return float(f"{x:.6g}")


def _bins(hours: np.ndarray, nbins: int) -> np.ndarray:
    h = np.floor(hours).astype(np.int64)
    out: np.ndarray = h % 24 if nbins == 24 else (h + _EPOCH_HOUR_OF_WEEK) % 168
    return out


def fit_rates(
    arrivals: np.ndarray, start_h: float, end_h: float, nbins: int
) -> tuple[list[float], dict[str, Any]]:
    """Poisson rates per hour of day (24 bins) or of week (168, Monday 00:00 first)."""
    hours = np.arange(math.ceil(start_h), math.floor(end_h))
    exposure = np.bincount(_bins(hours, nbins), minlength=nbins)
    fit = poisson_rates(_bins(arrivals, nbins), exposure)
    # whole weeks from the window's first hour, for the overdispersion check
    first = math.ceil(start_h)
    n_weeks = (math.floor(end_h) - first) // 168
    in_weeks = (arrivals >= first) & (arrivals < first + 168 * n_weeks)
    dispersion = rate_dispersion(
        _bins(arrivals[in_weeks], nbins),
        np.floor((arrivals[in_weeks] - first) / 168).astype(np.int64),
        fit.rates,
        168.0 / nbins,
    )
    diag = {
        "n": int(arrivals.size),
        "counts": fit.counts,
        "exposure_h": [int(e) for e in exposure],
        "se": [sig(s) for s in fit.standard_errors()],
        "method": "Poisson MLE: arrivals per bin / hours of exposure",
        "dispersion": sig(dispersion["dispersion"]),
        "dispersion_test": {k: sig(v) for k, v in dispersion.items() if k != "dispersion"},
    }
    return [sig(r) for r in fit.rates], diag


def fit_elective(
    arrivals: np.ndarray, start_h: float, end_h: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Weekdays seen (on at least half of their dates), modal hour, mean batch per such day."""
    first_day, last_day = math.floor(start_h / 24), math.ceil(end_h / 24)
    all_days = np.arange(first_day, last_day)
    day = np.floor(arrivals / 24).astype(np.int64)
    seen_days = np.unique(day)
    weekdays: list[str] = []
    occurrences = 0
    for w, name in enumerate(Weekday):
        dates = all_days[(all_days + _EPOCH_WEEKDAY) % 7 == w]
        hit = np.isin(dates, seen_days).sum()
        if dates.size and hit >= dates.size / 2:
            weekdays.append(name.value)
            occurrences += int(dates.size)
    on_days = np.isin(
        (day + _EPOCH_WEEKDAY) % 7, [list(Weekday).index(Weekday(w)) for w in weekdays]
    )
    hours = np.floor(arrivals[on_days]).astype(np.int64) % 24
    at_hour = int(np.bincount(hours, minlength=24).argmax()) if hours.size else 0
    count = round(int(on_days.sum()) / occurrences) if occurrences else 0
    value = {"weekdays": weekdays, "at_hour": at_hour, "count": count}
    diag = {"n": int(arrivals.size), "weekday_dates": occurrences, **value}
    return value, diag


def fit_routes(
    key: str,
    routes: list[Route],
    branches: Counter[tuple[str, str]],
    min_n: int,
    problems: list[str],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Branch shares k/n with standard errors; the last share closes the sum to exactly one."""
    counts = {r.to: branches.get((key, r.to), 0) for r in routes}
    n = sum(counts.values())
    if n < min_n:
        problems.append(f"pathways.{key}.next: {n} observed outcomes (< {min_n})")
        return [r.model_dump() for r in routes], {"n": n, "counts": counts}
    shares = [sig(counts[r.to] / n) for r in routes[:-1]]
    shares.append(sig(1.0 - math.fsum(shares)))
    diag = {
        "n": n,
        "counts": counts,
        "se": {r.to: sig(Proportion(counts[r.to], n).se) for r in routes},
        "method": "binomial MLE over outcomes observed in the window",
    }
    return [{"to": r.to, "p": p} for r, p in zip(routes, shares, strict=True)], diag


def fit_failures(
    work: dict[str, np.ndarray],
    unit: str,
    capacity: int,
    start_h: float,
    end_h: float,
    min_n: int,
    problems: list[str],
    where: str,
    *,
    censor_at: float | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Exponential time to failure from exposure; repair family by AIC on repair durations.

    A repair that started in the window but has not ended before ``end_h`` enters the repair fit
    right-censored at ``censor_at - repair_start`` (``censor_at`` defaults to ``end_h``; pass the
    end of the data when that comes first). Repair ends at or after ``end_h`` count as unobserved.
    """
    mine = work["unit"] == unit
    fail, rstart, rend = work["failure"][mine], work["repair_start"][mine], work["repair_end"][mine]
    in_window = (fail >= start_h) & (fail < end_h)
    failures = int(in_window.sum())
    touches = (fail < end_h) & ~(np.isfinite(rend) & (rend <= start_h))
    down_end = np.where(np.isfinite(rend), rend, end_h)
    down = np.clip(down_end[touches], start_h, end_h) - np.clip(fail[touches], start_h, end_h)
    ttf = exponential_mean_from_exposure(capacity, end_h - start_h, down, failures)
    ended = np.isfinite(rend) & (rend < end_h)
    repairs = (rend - rstart)[in_window & ended & np.isfinite(rstart)]
    open_orders = int((in_window & ~ended).sum())
    started_open = in_window & ~ended & np.isfinite(rstart) & (rstart < end_h)
    stop = end_h if censor_at is None else min(end_h, censor_at)
    censored = stop - rstart[started_open]
    if failures < min_n:
        problems.append(f"{where}.time_to_failure: {failures} failures (< {min_n})")
    if repairs.size < min_n:
        problems.append(f"{where}.repair: {repairs.size} completed repairs (< {min_n})")
    if failures < min_n or repairs.size < min_n or capacity <= 0:
        return None, {
            "failures": failures,
            "repairs": int(repairs.size),
            "exposure_h": ttf.exposure,
        }
    repair = fit_duration(repairs, censored=censored)
    diag = {
        "time_to_failure": {
            "family": "exponential",
            "mean": sig(ttf.mean),
            "se": sig(ttf.mean / math.sqrt(failures)),
            "n": failures,
            "exposure_h": sig(ttf.exposure),
            **{k: sig(v) for k, v in ttf.details.items()},
            "method": "(capacity × span − Σ failure-to-repair-end) / failures",
        },
        "repair": {
            **repair.diagnostics(),
            "open_at_end": open_orders,
            "uncertainty": duration_uncertainty(repair, repairs, censored),
        },
    }
    value = {
        "time_to_failure": {"dist": "exponential", "mean": sig(ttf.mean)},
        "repair": dist_data(repair.distribution),
    }
    return value, diag


def dist_data(dist: Any) -> dict[str, Any]:
    """A distribution as YAML data with rounded parameters."""
    data: dict[str, Any] = dist.model_dump(by_alias=True)
    return {k: (sig(v) if isinstance(v, float) else v) for k, v in data.items()}


def describe(dist: Any) -> str:
    """A one-line summary for tables: family, mean and sd where it has one."""
    if dist is None:
        return "-"
    data = dist_data(dist) if not isinstance(dist, dict) else dist
    rest = ", ".join(
        f"{k} {v:.4g}" for k, v in data.items() if k != "dist" and isinstance(v, float | int)
    )
    return f"{data.get('dist')}({rest})"
