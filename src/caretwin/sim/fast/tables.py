"""A :class:`~caretwin.sim.compiled.CompiledModel` flattened into numpy arrays for the fast core.

The jitted loop cannot look at dataclasses, tuples of tuples or dicts, so every per-step,
per-pool and per-arrival table becomes a flat array, and every variable-length list (a step's
acquire list, a KPI hook list, a routing table) becomes CSR form: ``off[i]:off[i + 1]`` slices a
flat value array. Built once per model, in plain Python, and shared by every replication.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from caretwin.sim.calendar import first_change, first_window, open_at
from caretwin.sim.compiled import NO_STEP, CompiledModel

I64 = np.int64
F64 = np.float64

# Hook tables share one CSR; each marker kind has its own key range starting at these bases.
HOOK_KINDS = ("arrival", "exit", "request", "start", "end", "release")


def _csr(rows: Sequence[Sequence[float]], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    off = np.zeros(len(rows) + 1, dtype=I64)
    flat: list[float] = []
    for i, row in enumerate(rows):
        flat.extend(row)
        off[i + 1] = len(flat)
    return off, np.asarray(flat, dtype=dtype)


@dataclass
class ModelTables:
    """Every array of the model the core reads (see :func:`model_tables` for their meaning)."""

    ints: dict[str, np.ndarray]
    floats: dict[str, np.ndarray]
    n_steps: int
    n_res: int
    n_arr: int
    n_kpi: int
    n_attr: int
    n_revisit: int
    max_slots: int  # most duration cases of any step
    hook_base: dict[str, int]
    warmup_h: float
    window_end_h: float
    horizon_h: float
    days: int


def model_tables(m: CompiledModel) -> ModelTables:
    """Flatten ``m``; names in ``ints``/``floats`` are what :mod:`.core` takes as arguments."""
    steps, res = m.steps, m.resources
    npw, nr = len(m.pathway_names), len(res)
    ints: dict[str, np.ndarray] = {}
    floats: dict[str, np.ndarray] = {}

    ints["acq_off"], ints["acq"] = _csr([list(s.acquire) for s in steps], I64)
    _, ints["acq_lvl"] = _csr([list(s.levels) for s in steps], I64)
    ints["roa_off"], ints["roa"] = _csr([list(s.release_on_acquire) for s in steps], I64)
    ints["ra_off"], ints["ra"] = _csr([list(s.release_after) for s in steps], I64)
    ints["mode_all"] = np.asarray([int(s.mode_all) for s in steps], dtype=I64)
    revisit = [s.index for s in steps if s.revisit]
    ints["revisit_slot"] = np.asarray(
        [revisit.index(s.index) if s.revisit else -1 for s in steps], dtype=I64
    )
    ints["has_dur"] = np.asarray([int(bool(s.durations)) for s in steps], dtype=I64)
    ints["has_pat"] = np.asarray([int(s.patience is not None) for s in steps], dtype=I64)
    ints["dur_attr"] = np.asarray([s.dur_attr for s in steps], dtype=I64)
    ints["dur_case_off"], ints["dur_case"] = _csr([list(s.dur_case) for s in steps], I64)
    ints["route_attr"] = np.asarray([s.route_attr for s in steps], dtype=I64)
    ints["route_case_off"], ints["route_case"] = _csr([list(s.route_case) for s in steps], I64)
    # routing tables: step -> table range; table -> (targets, cumulative probabilities) range
    tables = [t for s in steps for t in s.routes]
    ints["step_tab_off"], _ = _csr([[0] * len(s.routes) for s in steps], I64)
    ints["tab_off"], ints["tab_target"] = _csr([list(t[0]) for t in tables], I64)
    _, floats["tab_cum"] = _csr([list(t[1]) for t in tables], F64)

    ints["capacity"] = np.asarray([r.capacity for r in res], dtype=I64)
    ints["queue_limit"] = np.asarray(
        [-1 if r.queue_limit is None else r.queue_limit for r in res], dtype=I64
    )
    ints["levels"] = np.asarray([r.levels for r in res], dtype=I64)
    ints["qbase"] = np.concatenate([[0], np.cumsum(ints["levels"])]).astype(I64)
    ints["has_all"] = np.asarray([int(r.has_all) for r in res], dtype=I64)
    off = m.calendar_offset_h
    ints["open0"] = np.asarray([open_at(r, off) for r in res], dtype=I64)
    ints["sched_off"], ints["sched_hour"] = _csr([[h for h, _ in r.schedule] for r in res], I64)
    starts = [first_change(r, off) if r.schedule else (0, 0.0) for r in res]
    ints["sched_first"] = np.asarray([i for i, _ in starts], dtype=I64)
    floats["sched_t0"] = np.asarray([t for _, t in starts], dtype=F64)
    _, ints["sched_cap"] = _csr([[c for _, c in r.schedule] for r in res], I64)
    ints["maint_off"], ints["maint_units"] = _csr(
        [[w.units for w in r.maintenance] for r in res], I64
    )
    _, floats["maint_every_h"] = _csr(
        [[w.every_days * 24.0 for w in r.maintenance] for r in res], F64
    )
    _, floats["maint_dur"] = _csr([[w.duration_h for w in r.maintenance] for r in res], F64)
    starts_h = [[first_window(w, off) for w in r.maintenance] for r in res]
    _, floats["maint_start"] = _csr(starts_h, F64)
    failing = [r.ttf is not None and r.repair is not None for r in res]
    ints["clk_base"] = np.concatenate(
        [[0], np.cumsum([r.capacity if f else 0 for r, f in zip(res, failing, strict=True)])]
    ).astype(I64)

    ints["arr_pathway"] = np.asarray([a.pathway for a in m.arrivals], dtype=I64)
    ints["arr_entry"] = np.asarray([a.entry_step for a in m.arrivals], dtype=I64)
    ints["arr_count"] = np.asarray([a.count if a.scheduled else 1 for a in m.arrivals], dtype=I64)

    h = m.hooks
    rows: list[list[tuple[int, int]]] = []
    base: dict[str, int] = {}
    keyed = {
        "arrival": [h.arrival.get(i, []) for i in range(npw)],
        "exit": [h.exit.get(i, []) for i in range(npw)],
        "request": [h.request.get(i, []) for i in range(len(steps))],
        "start": [h.start.get(i, []) for i in range(len(steps))],
        "end": [h.end.get(i, []) for i in range(len(steps))],
        "release": [h.release.get((p, r), []) for p in range(npw) for r in range(nr)],
    }
    for kind in HOOK_KINDS:
        base[kind] = len(rows)
        rows.extend(keyed[kind])
    ints["hk_off"], ints["hk_kpi"] = _csr([[k for k, _ in row] for row in rows], I64)
    _, ints["hk_role"] = _csr([[role for _, role in row] for row in rows], I64)

    w0, w1 = m.warmup_h, m.window_end_h
    return ModelTables(
        ints=ints,
        floats=floats,
        n_steps=len(steps),
        n_res=nr,
        n_arr=len(m.arrivals),
        n_kpi=len(m.kpis),
        n_attr=len(m.attributes.names),
        n_revisit=len(revisit),
        max_slots=max([len(s.durations) for s in steps] + [1]),
        hook_base=base,
        warmup_h=w0,
        window_end_h=w1,
        horizon_h=m.horizon_h,
        days=max(1, math.ceil((w1 - w0) / 24.0 - 1e-9)),
    )


assert NO_STEP == -1  # the core hard-codes it
