"""Jitted building blocks of the fast core: heaps, FIFO queues, occupancy integrals, KPI marks.

Each is the array form of a piece of the reference engine and must compute exactly what that
piece computes (same float operations in the same order), because the fast core is held to
bit-identical KPIs. Imported only when a fast run starts (numba is loaded lazily).
"""

from __future__ import annotations

import math

import numpy as np

from caretwin.sim.fast._jit import inline, jit

# scalar state of a run, kept in one int64 array so helpers can update it in place
ST_HEAP, ST_SEQ, ST_SP, ST_ERR, ST_PID, ST_SMP, ST_NODE, ST_FREE = range(8)
# The main loop inlines the event-heap pop, the KPI marks and most schedules by hand (see the
# end of its frame loop); these helpers serve the rarer call sites.


@jit
def poisson_times(
    rates: np.ndarray, exps: np.ndarray, horizon: float, offset: float
) -> tuple[np.ndarray, int]:
    """Arrival times of ``Engine._next_poisson`` from unit exponentials ``exps``, up to and
    including the first after ``horizon``; n = -1 when ``exps`` ran out first. Rates are looked
    up at run time + ``offset``, in the reference's float operations."""
    out = np.empty(exps.shape[0])
    period = rates.shape[0]
    t = 0.0
    for i in range(exps.shape[0]):
        e = exps[i]
        tm = t + offset
        while True:
            hour = math.floor(tm)
            rate = rates[hour % period]
            span = hour + 1 - tm
            if rate * span >= e:
                t = tm + e / rate - offset
                break
            e -= rate * span
            tm = float(hour + 1)
        out[i] = t
        if t > horizon:
            return out, i + 1
    return out, -1


# -- the event heap: (time, seq) keys, seq strictly increasing, so ties keep scheduling order --


@inline
def ev_push(
    et: np.ndarray,
    ek: np.ndarray,
    st: np.ndarray,
    t: float,
    kind: int,
    a: int,
    b: int,
    c: int,
) -> None:
    """Schedule; ``ek[i] = (seq, kind, a, b, c)``. A new event never goes ahead of an equal
    time already queued (its seq is larger), hence the ``<=`` below."""
    n = st[ST_HEAP]
    if n >= et.shape[0]:
        st[ST_ERR] = 1
        return
    st[ST_SEQ] += 1
    i = n
    while i > 0:
        par = (i - 1) >> 1
        if et[par] <= t:
            break
        et[i] = et[par]
        for q in range(5):
            ek[i, q] = ek[par, q]
        i = par
    et[i] = t
    ek[i, 0] = st[ST_SEQ]
    ek[i, 1] = kind
    ek[i, 2] = a
    ek[i, 3] = b
    ek[i, 4] = c
    st[ST_HEAP] = n + 1


# -- unit min-heaps, one row per pool (free units, closed units); the count lives elsewhere --


@inline
def uh_push(h: np.ndarray, r: int, n: int, v: int) -> None:
    i = n
    while i > 0:
        par = (i - 1) >> 1
        if h[r, par] <= v:
            break
        h[r, i] = h[r, par]
        i = par
    h[r, i] = v


@inline
def _sift_down(h: np.ndarray, r: int, n: int, i: int) -> None:
    v = h[r, i]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and h[r, c + 1] < h[r, c]:
            c += 1
        if v <= h[r, c]:
            break
        h[r, i] = h[r, c]
        i = c
    h[r, i] = v


@inline
def uh_remove_at(h: np.ndarray, r: int, n: int, i: int) -> int:
    """Remove entry ``i`` of a heap of ``n``; returns it. Only the set matters to callers
    (units are distinct and always taken lowest first), not the layout."""
    v = int(h[r, i])
    last = h[r, n - 1]
    if i < n - 1:
        h[r, i] = last
        _sift_down(h, r, n - 1, i)
        # and up, for a replacement smaller than the removed entry's parent
        j = i
        while j > 0:
            par = (j - 1) >> 1
            if h[r, par] <= h[r, j]:
                break
            tmp = h[r, par]
            h[r, par] = h[r, j]
            h[r, j] = tmp
            j = par
    return v


@inline
def uh_find(h: np.ndarray, r: int, n: int, v: int) -> int:
    for i in range(n):
        if h[r, i] == v:
            return i
    return -1


@inline
def uh_argmax(h: np.ndarray, r: int, n: int) -> int:
    best = 0
    for i in range(1, n):
        if h[r, i] > h[r, best]:
            best = i
    return best


# -- occupancy integrals: kpis.OccupancyTracker.change, row i of the tracker arrays --


@inline
def tr_change(
    last: np.ndarray,
    level: np.ndarray,
    area: np.ndarray,
    top: np.ndarray,
    daily: np.ndarray,
    i: int,
    t: float,
    new: int,
    w0: float,
    w1: float,
) -> None:
    a = last[i] if last[i] > w0 else w0
    b = t if t < w1 else w1
    lvl = level[i]
    ndays = daily.shape[1]
    if b > a and lvl:
        area[i] += lvl * (b - a)
        day = int((a - w0) // 24.0)
        while a < b:
            edge = w0 + (day + 1) * 24.0
            seg_end = b if b < edge else edge
            if day < ndays:
                daily[i, day] += lvl * (seg_end - a)
            a = seg_end
            day += 1
    if last[i] <= w0 < t and lvl > top[i]:
        top[i] = lvl
    if w0 <= t < w1 and new > top[i]:
        top[i] = new
    last[i] = t
    level[i] = new
