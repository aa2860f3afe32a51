"""Predictive validation of stored forecasts: did the census fall inside the forecast's 90 %
band (p05..p95) as often as it claims, once the hours forecast have happened?

A recorded forecast run keeps its quantiles per pool per hour mark and, when its state gave one,
``as_of`` (taken as UTC, the lake's clock). The observed census of a bed pool at an instant is
the number of bed assignments of its unit open then (what the state would have counted). The
hour marks of one forecast are strongly autocorrelated, so the coverage test takes each forecast
as a block (:func:`caretwin.validation.stats.binomial_blocks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel, ConfigDict

from caretwin.calibrate.extract import Extract
from caretwin.validation.stats import binomial_blocks

__all__ = ["ForecastCheck", "ForecastValidation", "StoredForecast", "validate_forecasts"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StoredForecast:
    run_id: str
    as_of: str | None
    quantiles: dict[str, dict[str, list[float]]]
    units: dict[str, str]  # bed pool -> its unit (Location code)


class ForecastCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    as_of: str
    hours_observed: int
    hits: int
    coverage: float | None
    by_pool: dict[str, float]


class ForecastValidation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    level: float
    forecasts: list[ForecastCheck]
    skipped: list[str]
    n: int
    hits: int
    coverage: float | None
    p_value: float | None
    n_effective: float | None


def _epoch_h(text: str) -> float:
    t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH).total_seconds() / 3600.0


def _census(ex: Extract, unit: str, t: np.ndarray) -> np.ndarray:
    beds = ex.beds
    mine = (beds["unit"] == unit) & np.isfinite(beds["start"])
    start = beds["start"][mine]
    end = np.where(np.isfinite(beds["end"][mine]), beds["end"][mine], np.inf)
    return np.array([np.sum((start <= x) & (end > x)) for x in t], dtype=float)


def validate_forecasts(
    forecasts: list[StoredForecast], ex: Extract, data_end_h: float
) -> ForecastValidation:
    """Coverage of each forecast's p05..p95 band over the hour marks the lake has seen."""
    checks: list[ForecastCheck] = []
    skipped: list[str] = []
    hits_all: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for i, fc in enumerate(forecasts):
        if fc.as_of is None:
            skipped.append(f"{fc.run_id}: no as_of (hour-of-week state), nothing to compare")
            continue
        t0 = _epoch_h(fc.as_of)
        by_pool: dict[str, float] = {}
        mine: list[np.ndarray] = []
        for pool, unit in fc.units.items():
            q = fc.quantiles.get(pool)
            if q is None:
                continue
            lo, hi = np.asarray(q["p05"]), np.asarray(q["p95"])
            marks = np.arange(1, lo.size)  # mark 0 is the state itself
            t = t0 + marks
            seen = t < data_end_h
            if not seen.any():
                continue
            obs = _census(ex, unit, t[seen])
            hit = (obs >= lo[marks][seen]) & (obs <= hi[marks][seen])
            by_pool[pool] = float(hit.mean())
            mine.append(hit)
        if not mine:
            skipped.append(f"{fc.run_id}: no observed hours of its bed pools in the lake yet")
            continue
        hit = np.concatenate(mine)
        hits_all.append(hit)
        blocks.append(np.full(hit.size, i))
        checks.append(
            ForecastCheck(
                run_id=fc.run_id,
                as_of=fc.as_of,
                hours_observed=int(hit.size),
                hits=int(hit.sum()),
                coverage=float(hit.mean()),
                by_pool=by_pool,
            )
        )
    checks.sort(key=lambda c: c.as_of)
    if not hits_all:
        return ForecastValidation(
            level=0.9, forecasts=[], skipped=skipped, n=0, hits=0, coverage=None,
            p_value=None, n_effective=None,
        )  # fmt: skip
    h = np.concatenate(hits_all)
    test = binomial_blocks(h.astype(float), np.concatenate(blocks), 0.9)
    return ForecastValidation(
        level=0.9,
        forecasts=checks,
        skipped=skipped,
        n=int(h.size),
        hits=int(h.sum()),
        coverage=float(h.mean()),
        p_value=test.p_value if math.isfinite(test.p_value) else None,
        n_effective=test.n_effective,
    )
