"""One replication on the fast core: draw the randoms, run the jitted loop, fold the KPIs.

The KPIs are computed by :func:`caretwin.sim.kpis.replication_result`, the reference engine's
own function, from the same samples (in the same order) and the same occupancy integrals, so
the two engines cannot differ in how a KPI is defined.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from caretwin.sim.compiled import CompiledModel
from caretwin.sim.engine import Engine
from caretwin.sim.fast.kernels import poisson_times
from caretwin.sim.fast.loop import run_core
from caretwin.sim.fast.randoms import Bounds, Randoms, draw_randoms, failure_cycles
from caretwin.sim.fast.tables import HOOK_KINDS, ModelTables, model_tables
from caretwin.sim.kpis import OccupancyTracker, replication_result
from caretwin.sim.result import ReplicationResult

INT_TABLES = (
    "acq_off", "acq", "acq_lvl", "roa_off", "roa", "ra_off", "ra", "mode_all", "revisit_slot",
    "has_dur", "has_pat", "dur_attr", "dur_case_off", "dur_case", "route_attr", "route_case_off",
    "route_case", "step_tab_off", "tab_off", "tab_target", "capacity", "queue_limit", "levels",
    "qbase", "has_all", "open0", "sched_off", "sched_hour", "sched_cap", "sched_first",
    "maint_off", "maint_units", "clk_base", "arr_pathway", "arr_entry", "arr_count", "hk_off",
    "hk_kpi", "hk_role",
)  # fmt: skip
FLOAT_TABLES = ("tab_cum", "maint_every_h", "maint_dur", "maint_start", "sched_t0")
ATTEMPTS = 6  # bounds double at each; past that the reference engine runs the replication

_cache: list[tuple[CompiledModel, ModelTables]] = []


def tables_for(model: CompiledModel) -> ModelTables:
    """The model's tables, rebuilt only when another model object comes in."""
    if _cache and _cache[0][0] is model:
        return _cache[0][1]
    tables = model_tables(model)
    _cache[:] = [(model, tables)]
    return tables


def _sizes(model: CompiledModel, t: ModelTables, rnd: Randoms, grow: int) -> np.ndarray:
    patients = int(rnd.pat_off[-1])
    clocks = int(t.ints["clk_base"][-1])
    sampling = int(np.count_nonzero(t.ints["hk_role"] != 0))
    held = max(
        [
            sum(len(s.acquire) for s in model.steps if s.pathway == p)
            for p in range(len(model.pathway_names))
        ]
        + [1]
    )
    outages = max([r.capacity for r in model.resources] + [1]) + int(t.ints["maint_units"].sum())
    return np.asarray(
        [
            (2 * patients + clocks + t.n_arr + 2 * t.n_res + 64) * grow,
            (patients + 64) * grow,
            (patients * max(1, sampling) + 64) * grow,
            256 * grow,
            (held + 1) * grow,
            (outages + 4) * grow,
        ],
        dtype=np.int64,
    )


def run_replication_fast(model: CompiledModel, seed: int, replication: int) -> ReplicationResult:
    """Replication ``replication`` of ``model``: the same KPIs, bit for bit, as
    ``Engine(model, seed, replication).run()``."""
    t = tables_for(model)
    bounds = Bounds()
    hb = np.asarray([t.hook_base[k] for k in HOOK_KINDS], dtype=np.int64)
    ti = tuple(t.ints[name] for name in INT_TABLES)
    tf = tuple(t.floats[name] for name in FLOAT_TABLES)
    for _ in range(ATTEMPTS):
        rnd = draw_randoms(model, t, seed, replication, bounds, poisson_times)
        out = run_core(
            ti, tf, hb, t.warmup_h, t.window_end_h, t.horizon_h, t.days, t.n_kpi,
            t.n_revisit, rnd.ev_off, rnd.ev_time, rnd.pat_off, rnd.values, rnd.dur_off,
            rnd.route_off, rnd.pat_draw_off, rnd.attr, rnd.ttf, rnd.repair,
            _sizes(model, t, rnd, bounds.grow),
        )  # fmt: skip
        if out[0] == 0:
            return _result(model, t, replication, out)
        bounds.visits *= 2
        bounds.cycles = 2 * (bounds.cycles or failure_cycles(model))
        bounds.grow *= 2
    return Engine(model, seed, replication).run()  # pragma: no cover - pathological models


def _tracker(t: ModelTables, area: float, top: int, daily: np.ndarray) -> OccupancyTracker:
    tr = OccupancyTracker(t.warmup_h, t.window_end_h)
    tr.area = area
    tr.max_level = top
    tr.daily = daily.tolist()
    return tr


def _result(
    model: CompiledModel, t: ModelTables, replication: int, out: tuple[object, ...]
) -> ReplicationResult:
    _, events, smp_k, smp_v, area, top, daily, requests, turned, entries, reneged = out
    assert isinstance(smp_k, np.ndarray) and isinstance(smp_v, np.ndarray)
    assert isinstance(area, np.ndarray) and isinstance(top, np.ndarray)
    assert isinstance(daily, np.ndarray)
    assert isinstance(requests, np.ndarray) and isinstance(turned, np.ndarray)
    assert isinstance(entries, np.ndarray) and isinstance(reneged, np.ndarray)
    samples = [smp_v[smp_k == k] for k in range(t.n_kpi)]  # boolean masks keep the order
    nr = t.n_res
    busy = [_tracker(t, float(area[r]), int(top[r]), daily[r]) for r in range(nr)]
    cap = [_tracker(t, float(area[nr + r]), int(top[nr + r]), daily[nr + r]) for r in range(nr)]
    return replication_result(
        model,
        replication,
        cast(list[list[float]], samples),
        busy,
        int(cast(int, events)),
        requests.tolist(),
        turned.tolist(),
        capacity=cap,
        step_entries=entries[: t.n_steps].tolist(),
        reneged=reneged[: t.n_steps].tolist(),
    )
