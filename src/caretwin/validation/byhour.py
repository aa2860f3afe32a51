"""Per-patient ED KPIs by hour of day of arrival, observed (from the lake) and simulated (from
event traces of the reference engine, the one that records them).

The KPIs' own engines report one number per run window; the hour-of-day breakdown needs each
patient's times, so it replays ``ByHour.replications`` traced replications per fold: fewer than
the KPI replications, as a trace costs about ten times a KPI run.
"""

from __future__ import annotations

import math

import numpy as np

from caretwin.calibrate.extract import Extract
from caretwin.model.definition import IntervalKpi, TwinDefinition, WaitKpi
from caretwin.sim.runner import trace_run
from caretwin.sim.trace import EventKind, Trace

__all__ = ["hour_groups", "observed_by_hour", "simulated_by_hour"]


def hour_groups(bin_hours: int) -> list[str]:
    return [f"{h:02d}-{h + bin_hours:02d}h" for h in range(0, 24, bin_hours)]


def _bin_means(arrival: np.ndarray, value: np.ndarray, start: float, bin_hours: int) -> list[float]:
    ok = np.isfinite(arrival) & np.isfinite(value)
    b = (((arrival[ok] - start) % 24.0) // bin_hours).astype(int)
    v = value[ok]
    out = []
    for i in range(24 // bin_hours):
        mine = v[b == i]
        out.append(float(mine.mean()) if mine.size else math.nan)
    return out


def observed_by_hour(
    ex: Extract, s: float, e: float, kpis: list[str], bin_hours: int
) -> dict[str, list[float]]:
    """Per KPI, the mean over patients arriving in ``[s, e)`` epoch hours, per hour bin."""
    ed = ex.ed
    inside = (ed["arrival"] >= s) & (ed["arrival"] < e)
    arrival = ed["arrival"][inside]
    values = {
        "ed_wait_mean_h": ed["space_start"][inside] - arrival,
        "ed_los_mean_h": ed["departure"][inside] - arrival,
    }
    # epoch hours: 0 is midnight UTC, as the simulation's t = 0 is midnight
    return {k: _bin_means(arrival, values[k], 0.0, bin_hours) for k in kpis}


def _first(trace: Trace, kind: EventKind, ref: int) -> tuple[np.ndarray, np.ndarray]:
    m = (trace.kind == kind) & (trace.ref == ref)
    ent, first = np.unique(trace.entity[m], return_index=True)
    return ent, trace.time[m][first]


def _trace_values(
    trace: Trace, defn: TwinDefinition, kpi: str, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """(arrival or request time, value) per patient whose clock starts in ``[lo, hi)``."""
    cfg = defn.kpis[kpi]
    if isinstance(cfg, WaitKpi):
        step = trace.step_names.index(cfg.steps[0])
        ent_r, t_r = _first(trace, EventKind.REQUEST, step)
        ent_s, t_s = _first(trace, EventKind.START, step)
        start = dict(zip(ent_s.tolist(), t_s.tolist(), strict=True))
        end = np.array([start.get(e, math.nan) for e in ent_r.tolist()])
        t0 = t_r
    elif isinstance(cfg, IntervalKpi) and cfg.start == "arrival" and cfg.end.startswith("release:"):
        pw = trace.pathway_names.index(cfg.pathway or "")
        res = trace.resource_names.index(cfg.end.split(":", 1)[1])
        ent_a, t0 = _first(trace, EventKind.ARRIVE, pw)
        ent_x, t_x = _first(trace, EventKind.RELEASE, res)
        rel = dict(zip(ent_x.tolist(), t_x.tolist(), strict=True))
        end = np.array([rel.get(e, math.nan) for e in ent_a.tolist()])
    else:
        return np.zeros(0), np.zeros(0)
    keep = (t0 >= lo) & (t0 < hi)
    return t0[keep], (end - t0)[keep]


def simulated_by_hour(
    defn: TwinDefinition,
    kpis: list[str],
    bin_hours: int,
    replications: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Per KPI, a (replications x hour bins) array of per-bin means over the run window."""
    lo = defn.run.warmup_days * 24.0
    hi = lo + defn.run.run_days * 24.0
    horizon = hi + defn.run.cooldown_days * 24.0
    out = {k: np.full((replications, 24 // bin_hours), np.nan) for k in kpis}
    for r in range(replications):
        trace = trace_run(defn, seed + r, horizon)
        for k in kpis:
            t0, v = _trace_values(trace, defn, k, lo, hi)
            # patients still waiting at the horizon never finished: leave them out, as the
            # observed side leaves out stays without an end
            out[k][r] = _bin_means(t0, v, 0.0, bin_hours)
    return out
