"""CareTwin's engine-native KPI kinds: how each is compiled for the engines and folded into a value.

An engine-native kind is collected while the engines run, from what every engine feeds the same
collectors (:mod:`caretwin.sim.kpis`): per-patient interval and wait samples at the hooks the
kind asks for, time-weighted units held and open capacity per pool, requests and turned-away
counts per pool, entries and reneges per step. Its :class:`~caretwin.plugins.specs.NativeKpi`
pairs

* ``compile(config, ctx) -> CKpi``: the definition's entry turned into indexes and hooks
  (:func:`caretwin.sim.compiled.compile_definition` calls it through the KPI registry), and
* ``value(kpi, collected) -> (value, histogram or None)``: the replication's value from the
  collectors (:func:`caretwin.sim.kpis.replication_result` calls it for every engine).

The engines' loops, the numba core's arrays included, never see a kind: they only fill the
collectors. These functions are what used to be isinstance and ``kind ==`` chains in
``compiled.py`` and ``kpis.py``, with the same arithmetic, so results are bit-identical.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from caretwin.model.definition import EXIT
from caretwin.sim.compiled import CKpi, KpiCompile
from caretwin.sim.kpis import Collected
from caretwin.sim.result import HIST_BIN_H, HIST_BINS

if TYPE_CHECKING:
    from caretwin.plugins.specs import NativeKpi

ValueOut = tuple[float, np.ndarray | None]


def _step_key(ref: str) -> tuple[str, str]:
    """``"pathway.step"`` as the (pathway, step) key of the step index."""
    pathway, _, step = ref.partition(".")
    return pathway, step


# -- compile ---------------------------------------------------------------------------------


def compile_interval(k: Any, ctx: KpiCompile) -> CKpi:
    pi = ctx.pathway_index(k.pathway)
    for role, marker in ((0, k.start), (1, k.end)):
        if marker == "arrival":
            ctx.listen("arrival", pi, role)
        elif marker == EXIT:
            ctx.listen("exit", pi, role)
        else:
            mk, _, ref = marker.partition(":")
            if mk == "release":
                ctx.listen_release(pi, ctx.resource_index(ref), role)
            else:
                ctx.listen(mk, ctx.step_index(k.pathway, ref), role)
    return ctx.kpi(k, stat=k.stat, threshold=k.threshold)


def compile_wait(k: Any, ctx: KpiCompile) -> CKpi:
    for ref in k.steps:
        ctx.listen("start", ctx.step_index(*_step_key(ref)), 2)
    return ctx.kpi(k, stat=k.stat, threshold=k.threshold)


def compile_resource(k: Any, ctx: KpiCompile) -> CKpi:
    """Occupancy, turned-away and utilisation: one pool, no hooks."""
    return ctx.kpi(k, stat=getattr(k, "stat", "mean"), resource=ctx.resource_index(k.resource))


def compile_reneged(k: Any, ctx: KpiCompile) -> CKpi:
    steps = tuple(ctx.step_index(*_step_key(ref)) for ref in k.steps)
    return ctx.kpi(k, stat=k.stat, steps=steps)


# -- value -----------------------------------------------------------------------------------


def _stat(values: np.ndarray, k: CKpi) -> float:
    if k.stat == "count":
        return float(values.size)
    if values.size == 0:
        return math.nan
    if k.stat == "mean":
        return float(values.mean())
    if k.stat == "pct_over":
        assert k.threshold is not None
        return float(100.0 * np.count_nonzero(values > k.threshold) / values.size)
    q = {"median": 50.0, "p90": 90.0, "p95": 95.0}[k.stat]
    return float(np.percentile(values, q))


def sample_value(k: CKpi, c: Collected) -> ValueOut:
    """Intervals and waits: a statistic of the patients' samples, and their histogram."""
    arr = np.asarray(c.samples[k.index], dtype=float)
    if k.stat == "count":
        return _stat(arr, k), None
    idx = np.minimum((arr / HIST_BIN_H).astype(np.int64), HIST_BINS - 1)
    return _stat(arr, k), np.bincount(idx, minlength=HIST_BINS)


def occupancy_value(k: CKpi, c: Collected) -> ValueOut:
    tr = c.trackers[k.resource]
    return (tr.mean() if k.stat == "mean" else float(tr.max_level)), None


def utilisation_value(k: CKpi, c: Collected) -> ValueOut:
    held = c.trackers[k.resource].area
    open_area = c.capacity[k.resource].area if c.capacity else math.nan
    return (100.0 * held / open_area if open_area else math.nan), None


def turned_away_value(k: CKpi, c: Collected) -> ValueOut:
    n, lost = c.requests[k.resource], c.turned_away[k.resource]
    if k.stat == "count":
        return float(lost), None
    return (100.0 * lost / n if n else math.nan), None


def reneged_value(k: CKpi, c: Collected) -> ValueOut:
    left = sum(c.reneged[s] for s in k.steps) if c.reneged else 0
    entered = sum(c.step_entries[s] for s in k.steps) if c.step_entries else 0
    if k.stat == "count":
        return float(left), None
    return (100.0 * left / entered if entered else math.nan), None


def native_kpis() -> dict[str, NativeKpi]:
    """Each built-in kind's compile step and value function (``caretwin.sim.kpi_plugin``)."""
    from caretwin.plugins.specs import NativeKpi

    return {
        "interval": NativeKpi(compile_interval, sample_value),
        "wait": NativeKpi(compile_wait, sample_value),
        "occupancy": NativeKpi(compile_resource, occupancy_value),
        "turned_away": NativeKpi(compile_resource, turned_away_value),
        "reneged": NativeKpi(compile_reneged, reneged_value),
        "utilisation": NativeKpi(compile_resource, utilisation_value),
    }
