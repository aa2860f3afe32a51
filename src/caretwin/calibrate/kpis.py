"""Observed KPIs: the RH1 KPIs that the hospital's data measure directly, for a date range.

This is the yardstick for validation — simulate the calibrated twin, then compare with what
actually happened in a held-out month. Definitions follow the simulator's so the comparison is
like for like: per-patient KPIs count patients whose *hospital arrival* (ED or elective) falls in
``[start, end)`` and whose measured interval has ended by the end of the data; occupancies are
time averages over the window of beds held, including by boarding and blocked patients (their
movement in the bed lasts until the next bed is assigned, as the data contract states).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np

from caretwin.calibrate.extract import Extract, extract
from caretwin.lake import Lake
from caretwin.model import TwinDefinition
from caretwin.model.definition import OccupancyKpi, ResourceKind

#: RH1's occupancy KPIs and the unit (Location code) whose beds they count; what
#: :func:`occupancy_units` derives from the reference hospital, kept for callers that import it.
OCCUPANCY_UNITS: dict[str, str] = {"icu_occupancy_mean": "ICU", "ward_occupancy_mean": "MED"}


def occupancy_units(template: TwinDefinition) -> dict[str, str]:
    """The template's time-average occupancy KPIs of bed pools and the unit each one counts.

    The unit is the resource's ``unit`` (its Location code), else the resource's name. Only bed
    pools are measured: the inpatient movements hold beds, not treatment spaces or devices; and
    only ``stat: mean`` KPIs, the time average the window's data give directly.
    """
    out: dict[str, str] = {}
    for name, kpi in template.kpis.items():
        if not isinstance(kpi, OccupancyKpi) or kpi.stat != "mean":
            continue
        res = template.resources.get(kpi.resource)
        if res is not None and res.kind == ResourceKind.bed:
            out[name] = res.unit or kpi.resource
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _hours(t: date | datetime) -> float:
    if not isinstance(t, datetime):
        t = datetime(t.year, t.month, t.day, tzinfo=UTC)
    elif t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH).total_seconds() / 3600.0


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _occupancy(ex: Extract, unit: str, s: float, e: float) -> float:
    beds = ex.beds
    mine = (beds["unit"] == unit) & np.isfinite(beds["start"])
    lo = np.clip(beds["start"][mine], s, e)
    hi = np.clip(np.where(np.isfinite(beds["end"][mine]), beds["end"][mine], e), s, e)
    return float(np.sum(hi - lo) / (e - s))


def observed_kpis(
    lake: Lake,
    start: date | datetime,
    end: date | datetime,
    template: TwinDefinition | None = None,
) -> dict[str, float]:
    """The observable RH1 KPIs for arrivals in ``[start, end)`` (NaN where nothing was seen).

    Occupancy KPIs follow ``template`` (:func:`occupancy_units`); by default RH1's.
    """
    units = OCCUPANCY_UNITS if template is None else occupancy_units(template)
    return kpis_from_extract(extract(lake), _hours(start), _hours(end), units)


def kpis_from_extract(
    ex: Extract, s: float, e: float, occupancy: dict[str, str] | None = None
) -> dict[str, float]:
    """:func:`observed_kpis` on already-extracted rows (epoch hours); ``occupancy`` maps each
    occupancy KPI to its unit (default :data:`OCCUPANCY_UNITS`)."""
    ed = ex.ed
    arrived = (ed["arrival"] >= s) & (ed["arrival"] < e)
    arrival, dep = ed["arrival"][arrived], ed["departure"][arrived]
    los = (dep - arrival)[np.isfinite(dep)]
    admitted = np.isfinite(ed["admit_order"][arrived])
    boarding = (dep - ed["admit_order"][arrived])[admitted]

    ed_arrival = dict(zip(ed["id"].tolist(), ed["arrival"].tolist(), strict=True))
    beds = ex.beds
    n = len(beds["id"])
    ids = beds["id"]
    next_start = np.full(n, np.nan)
    same = ids[1:] == ids[:-1]
    next_start[:-1][same] = beds["start"][1:][same]
    hosp_arrival = np.array(
        [
            ed_arrival.get(p, np.nan) if p else a
            for p, a in zip(beds["part_of"], beds["enc_start"], strict=True)
        ],
        dtype=np.float64,
    )
    in_window = (hosp_arrival >= s) & (hosp_arrival < e)
    blocked = in_window & np.isfinite(beds["transfer"])
    elective_first = in_window & (beds["part_of"] == "") & (beds["after"] == "")
    first_row = np.concatenate([[True], ~same]) if n else np.zeros(0, dtype=bool)
    elective_first &= first_row

    out = {
        "ed_wait_mean_h": _mean((ed["space_start"] - ed["arrival"])[arrived]),
        "ed_los_mean_h": _mean(los),
        "ed_los_over_4h_pct": float(100.0 * np.mean(los > 4.0)) if los.size else math.nan,
        "boarding_mean_h": _mean(boarding),
        "ct_wait_mean_h": _mean((ed["proc_start"] - ed["proc_order"])[arrived]),
        "surgical_wait_mean_h": _mean((beds["start"] - beds["enc_start"])[elective_first]),
        "icu_stepdown_block_mean_h": _mean((next_start - beds["transfer"])[blocked]),
        "ed_patients": float(los.size),
    }
    for kpi, unit in (OCCUPANCY_UNITS if occupancy is None else occupancy).items():
        out[kpi] = _occupancy(ex, unit, s, e)
    return out
