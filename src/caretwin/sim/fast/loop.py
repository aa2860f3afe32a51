"""The event loop of the fast core (see :mod:`.core` for the state layout and the frame stack).

Every branch below names the reference-engine method it reproduces; keep them in step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from caretwin.sim.fast._jit import jit
from caretwin.sim.fast.core import (
    E_ARRIVAL,
    E_CAPACITY,
    E_FAIL,
    E_MAINT,
    E_RENEGE,
    E_REPAIR,
    E_STEP_DONE,
    F_ADVANCE,
    F_ARRIVE,
    F_BEGIN,
    F_EXIT,
    F_FINISH,
    F_GRANT,
    F_GRANT_ALL,
    F_POST_ARRIVAL,
    F_POST_CAPACITY,
    F_POST_REPAIR,
    F_RELEASE,
    F_REOPEN,
    F_REQUEST,
    F_REQUEST_ALL,
    F_UNIT_FREE,
    N_PI,
    N_PL,
    PI_ACQ,
    PI_ARMED,
    PI_CNT,
    PI_N,
    PI_NHELD,
    PI_PW,
    PI_ROW,
    PI_SRC,
    PI_STEP,
    PI_TOKEN,
    PI_WKIND,
    PI_WPOOL,
    PI_WSEQ,
    PL_BUSY,
    PL_CLOSED,
    PL_CLOSING,
    PL_DOWN,
    PL_FREE,
    PL_OPEN,
    PL_PFH,
    PL_PFN,
    PL_REQ,
    PL_TA,
    PL_WAITING,
    _case,
    _push,
    _q_append,
    _q_unlink,
    _unwait,
)
from caretwin.sim.fast.kernels import (
    ST_ERR,
    ST_FREE,
    ST_HEAP,
    ST_PID,
    ST_SEQ,
    ST_SMP,
    ST_SP,
    ev_push,
    tr_change,
    uh_argmax,
    uh_find,
    uh_push,
    uh_remove_at,
)


@jit
def run_core(  # one loop on purpose: the whole engine, jitted
    ti: tuple[np.ndarray, ...],  # model integer tables, in the order of fast.run.INT_TABLES
    tf: tuple[np.ndarray, ...],  # model float tables, in the order of fast.run.FLOAT_TABLES
    hb: np.ndarray,  # hook key bases: arrival, exit, request, start, end, release
    w0: float,
    w1: float,
    horizon: float,
    ndays: int,
    n_kpi: int,
    n_vis_slots: int,
    ev_off: np.ndarray,
    ev_time: np.ndarray,
    pat_off: np.ndarray,
    values: np.ndarray,
    dur_off: np.ndarray,
    route_off: np.ndarray,
    pat_draw_off: np.ndarray,
    attr: np.ndarray,
    ttf: np.ndarray,
    repair: np.ndarray,
    sizes: np.ndarray,  # heap, nodes, samples, stack, held, pending outages
) -> tuple[Any, ...]:
    (
        acq_off, acq, acq_lvl, roa_off, roa, ra_off, ra, mode_all, revisit_slot, has_dur,
        has_pat, dur_attr, dur_case_off, dur_case, route_attr, route_case_off, route_case,
        step_tab_off, tab_off, tab_target, capacity, queue_limit, levels, qbase, has_all, open0,
        sched_off, sched_hour, sched_cap, sched_first, maint_off, maint_units, clk_base,
        arr_pathway, arr_entry, arr_count, hk_off, hk_kpi, hk_role,
    ) = ti  # fmt: skip
    tab_cum, maint_every_h, maint_dur, maint_start, sched_t0 = tf
    n_steps = acq_off.shape[0] - 1
    n_res = capacity.shape[0]
    n_arr = arr_entry.shape[0]
    n_pat = max(1, int(pat_off[n_arr]))
    nvis = dur_off.shape[3]
    st = np.zeros(8, dtype=np.int64)
    st[ST_FREE] = -1

    pi = np.zeros((n_pat, N_PI), dtype=np.int64)
    pft = np.zeros((n_pat, 2))  # arrival time, request time
    held_cap = int(sizes[4])
    hr = np.zeros((n_pat, held_cap), dtype=np.int64)
    hu = np.zeros((n_pat, held_cap), dtype=np.int64)
    marks = np.full((n_pat, max(1, n_kpi)), -1.0)
    visits = np.full((n_pat, max(1, n_vis_slots)), -1, dtype=np.int64)

    pl = np.zeros((max(1, n_res), N_PL), dtype=np.int64)
    cmax = 1
    for r in range(n_res):
        cmax = max(cmax, capacity[r])
    fh = np.zeros((max(1, n_res), cmax), dtype=np.int64)
    ch = np.zeros((max(1, n_res), cmax), dtype=np.int64)
    pf_cap = int(sizes[5])
    pfr = np.zeros((max(1, n_res), pf_cap), dtype=np.int64)
    nq = int(qbase[n_res])
    qh = np.full(max(1, nq), -1, dtype=np.int64)
    qt = np.full(max(1, nq), -1, dtype=np.int64)
    nd = np.zeros((sizes[1], 3), dtype=np.int64)
    ntr = 2 * n_res  # busy trackers, then capacity (open units) trackers
    tlast = np.zeros(max(1, ntr))
    tlevel = np.zeros(max(1, ntr), dtype=np.int64)
    tarea = np.zeros(max(1, ntr))
    ttop = np.zeros(max(1, ntr), dtype=np.int64)
    tdaily = np.zeros((max(1, ntr), ndays))
    for r in range(n_res):
        o = open0[r]
        for u in range(o):
            fh[r, u] = u  # ascending: already a heap
        for u in range(o, capacity[r]):
            ch[r, u - o] = u
        pl[r, PL_FREE] = o
        pl[r, PL_CLOSED] = capacity[r] - o
        pl[r, PL_OPEN] = o
        tr_change(tlast, tlevel, tarea, ttop, tdaily, n_res + r, 0.0, o, w0, w1)
    step_entries = np.zeros(max(1, n_steps), dtype=np.int64)
    reneged = np.zeros(max(1, n_steps), dtype=np.int64)

    et = np.zeros(sizes[0])
    ek = np.zeros((sizes[0], 5), dtype=np.int64)
    fr = np.zeros((sizes[3], 4), dtype=np.int64)
    smp_k = np.zeros(sizes[2], dtype=np.int64)
    smp_v = np.zeros(sizes[2])
    arr_next = np.zeros(max(1, n_arr), dtype=np.int64)
    arr_n = np.zeros(max(1, n_arr), dtype=np.int64)
    nclk = int(clk_base[n_res])
    ttf_pos = np.zeros(max(1, nclk), dtype=np.int64)
    rep_pos = np.zeros(max(1, nclk), dtype=np.int64)
    ncyc = ttf.shape[1]

    # Engine._start
    for a in range(n_arr):
        if ev_off[a + 1] > ev_off[a]:
            ev_push(et, ek, st, ev_time[ev_off[a]], E_ARRIVAL, a, 0, 0)
            arr_next[a] = 1
    for r in range(n_res):
        for c in range(clk_base[r + 1] - clk_base[r]):
            g = clk_base[r] + c
            ev_push(et, ek, st, ttf[g, 0], E_FAIL, 0, r, c)
            ttf_pos[g] = 1
    for r in range(n_res):
        if sched_off[r + 1] > sched_off[r]:  # caretwin.sim.calendar.first_change
            ev_push(et, ek, st, sched_t0[r], E_CAPACITY, 0, r, sched_first[r])
        for w in range(maint_off[r + 1] - maint_off[r]):
            ev_push(et, ek, st, maint_start[maint_off[r] + w], E_MAINT, 0, r, w)

    events = 0
    while st[0] > 0 and et[0] <= horizon and st[ST_ERR] == 0:
        t = et[0]  # heapq.heappop, inlined for the reason given at the end of the frame loop
        kind, ea, eb, ec = ek[0, 1], ek[0, 2], ek[0, 3], ek[0, 4]
        n = st[ST_HEAP] - 1
        st[ST_HEAP] = n
        if n > 0:
            lt = et[n]
            ls = ek[n, 0]
            i = 0
            while True:
                c = 2 * i + 1
                if c >= n:
                    break
                if c + 1 < n and (
                    et[c + 1] < et[c] or (et[c + 1] == et[c] and ek[c + 1, 0] < ek[c, 0])
                ):
                    c += 1
                if lt < et[c] or (lt == et[c] and ls < ek[c, 0]):
                    break
                et[i] = et[c]
                for q in range(5):
                    ek[i, q] = ek[c, q]
                i = c
            et[i] = lt
            for q in range(5):
                ek[i, q] = ek[n, q]
        events += 1
        if kind == E_STEP_DONE:
            _push(fr, st, F_FINISH, ea, 0, 0)
        elif kind == E_ARRIVAL:
            _push(fr, st, F_POST_ARRIVAL, ea, 0, 0)
            for _ in range(arr_count[ea]):
                _push(fr, st, F_ARRIVE, ea, 0, 0)
        elif kind == E_FAIL:  # Engine._fail
            r, clock = eb, ec
            if pl[r, PL_FREE] == 0:
                k = (pl[r, PL_PFH] + pl[r, PL_PFN]) % pf_cap
                if pl[r, PL_PFN] >= pf_cap:
                    st[ST_ERR] = 1
                pfr[r, k] = clock
                pl[r, PL_PFN] += 1
            else:
                i = uh_find(fh, r, pl[r, PL_FREE], clock)
                if i < 0:
                    i = 0
                unit = uh_remove_at(fh, r, pl[r, PL_FREE], i)
                pl[r, PL_FREE] -= 1
                # Engine._take_down
                pl[r, PL_DOWN] += 1
                g = clk_base[r] + clock
                if rep_pos[g] >= ncyc:
                    st[ST_ERR] = 1
                    break
                ev_push(et, ek, st, t + repair[g, rep_pos[g]], E_REPAIR, clock, r, unit)
                rep_pos[g] += 1
        elif kind == E_REPAIR:  # Engine._repaired
            pl[eb, PL_DOWN] -= 1
            _push(fr, st, F_POST_REPAIR, eb, ea, 0)
            _push(fr, st, F_UNIT_FREE, eb, ec, 0)
        elif kind == E_RENEGE:  # Engine._renege
            p = ea
            if pi[p, PI_TOKEN] == eb and pi[p, PI_WKIND] != 0:
                _unwait(p, pi, pl, acq_off, acq)
                if pi[p, PI_CNT]:
                    reneged[pi[p, PI_STEP]] += 1
                _push(fr, st, F_EXIT, p, 0, 0)
        elif kind == E_CAPACITY:  # Engine._set_open
            r, j = eb, ec
            target = sched_cap[sched_off[r] + j]
            delta = target - pl[r, PL_OPEN]
            pl[r, PL_OPEN] = target
            tr_change(tlast, tlevel, tarea, ttop, tdaily, n_res + r, t, target, w0, w1)
            _push(fr, st, F_POST_CAPACITY, r, j, 0)
            if delta < 0:
                k = -delta
                while k and pl[r, PL_FREE] > 0:
                    unit = uh_remove_at(fh, r, pl[r, PL_FREE], uh_argmax(fh, r, pl[r, PL_FREE]))
                    pl[r, PL_FREE] -= 1
                    uh_push(ch, r, pl[r, PL_CLOSED], unit)
                    pl[r, PL_CLOSED] += 1
                    k -= 1
                pl[r, PL_CLOSING] += k
            else:
                cancel = min(delta, pl[r, PL_CLOSING])
                pl[r, PL_CLOSING] -= cancel
                for _ in range(delta - cancel):
                    _push(fr, st, F_REOPEN, r, 0, 0)
        else:  # E_MAINT, Engine._maintenance
            r, w = eb, ec
            for _ in range(maint_units[maint_off[r] + w]):
                if pl[r, PL_FREE] > 0:
                    unit = uh_remove_at(fh, r, pl[r, PL_FREE], 0)
                    pl[r, PL_FREE] -= 1
                    pl[r, PL_DOWN] += 1
                    hours = maint_dur[maint_off[r] + w]
                    ev_push(et, ek, st, t + hours, E_REPAIR, -2 - w, r, unit)
                else:
                    if pl[r, PL_PFN] >= pf_cap:
                        st[ST_ERR] = 1
                        break
                    pfr[r, (pl[r, PL_PFH] + pl[r, PL_PFN]) % pf_cap] = -2 - w
                    pl[r, PL_PFN] += 1
            ev_push(et, ek, st, t + maint_every_h[maint_off[r] + w], E_MAINT, 0, r, w)

        # run the frames this event started, depth first, to completion
        while st[ST_SP] > 0 and st[ST_ERR] == 0:
            sp = st[ST_SP] - 1
            st[ST_SP] = sp
            op, p, x, y = fr[sp, 0], fr[sp, 1], fr[sp, 2], fr[sp, 3]
            tr_r, mk_key, sc_kind = -1, -1, -1
            sc_t, sc_a, sc_b, sc_c = 0.0, 0, 0, 0
            for _once in range(1):  # `break` ends the frame's handler
                if op == F_ARRIVE:  # Engine._arrive
                    a = p
                    n = arr_n[a]
                    arr_n[a] = n + 1
                    p = st[ST_PID]
                    st[ST_PID] = p + 1
                    pi[p, PI_SRC] = a
                    pi[p, PI_N] = n
                    pi[p, PI_PW] = arr_pathway[a]
                    pi[p, PI_CNT] = 1 if w0 <= t < w1 else 0
                    pi[p, PI_STEP] = -1
                    pi[p, PI_ARMED] = -1
                    pi[p, PI_ROW] = pat_off[a] + n
                    pft[p, 0] = t
                    pft[p, 1] = t
                    mk_key = hb[0] + arr_pathway[a]
                    _push(fr, st, F_ADVANCE, p, arr_entry[a], 0)
                elif op == F_POST_ARRIVAL:
                    a = p
                    k = arr_next[a]
                    if ev_off[a] + k < ev_off[a + 1]:
                        sc_t, sc_kind, sc_a, sc_b, sc_c = ev_time[ev_off[a] + k], E_ARRIVAL, a, 0, 0
                        arr_next[a] = k + 1
                elif op == F_ADVANCE:  # Engine._advance (one step; zero-time steps come back here)
                    s = x
                    if s < 0:
                        _push(fr, st, F_EXIT, p, 0, 0)
                        break
                    pi[p, PI_STEP] = s
                    pi[p, PI_ACQ] = 0
                    pft[p, 1] = t
                    pi[p, PI_TOKEN] += 1
                    if revisit_slot[s] >= 0:
                        visits[p, revisit_slot[s]] += 1
                    if pi[p, PI_CNT]:
                        step_entries[s] += 1
                    mk_key = hb[2] + s
                    if acq_off[s + 1] > acq_off[s]:
                        if mode_all[s]:
                            _push(fr, st, F_REQUEST_ALL, p, 0, 0)
                        else:
                            _push(fr, st, F_REQUEST, p, acq[acq_off[s]], 0)
                    else:
                        _push(fr, st, F_BEGIN, p, 0, 0)
                elif op in (F_REQUEST, F_REQUEST_ALL):  # Engine._request / _request_all
                    s = pi[p, PI_STEP]
                    cnt = pi[p, PI_CNT]
                    lo, hi = acq_off[s], acq_off[s + 1]
                    wait = False
                    if op == F_REQUEST:
                        r = x
                        if cnt:
                            pl[r, PL_REQ] += 1
                        if pl[r, PL_FREE] > 0:
                            unit = uh_remove_at(fh, r, pl[r, PL_FREE], 0)
                            pl[r, PL_FREE] -= 1
                            _push(fr, st, F_GRANT, p, r, unit)
                        elif queue_limit[r] >= 0 and pl[r, PL_WAITING] >= queue_limit[r]:
                            if cnt:
                                pl[r, PL_TA] += 1
                            _push(fr, st, F_EXIT, p, 0, 0)
                        else:
                            lvl = acq_lvl[lo + pi[p, PI_ACQ]]
                            _q_append(qh, qt, nd, st, qbase[r] + lvl, p, pi[p, PI_WSEQ])
                            pl[r, PL_WAITING] += 1
                            pi[p, PI_WKIND] = 1
                            pi[p, PI_WPOOL] = r
                            wait = True
                    else:
                        free_all = True
                        for j in range(lo, hi):
                            if cnt:
                                pl[acq[j], PL_REQ] += 1
                        for j in range(lo, hi):
                            if pl[acq[j], PL_FREE] == 0:
                                free_all = False
                        if free_all:
                            _push(fr, st, F_GRANT_ALL, p, -1, -1)
                        else:
                            turned = False
                            for j in range(lo, hi):
                                r = acq[j]
                                lim = queue_limit[r]
                                if pl[r, PL_FREE] == 0 and lim >= 0 and pl[r, PL_WAITING] >= lim:
                                    if cnt:
                                        pl[r, PL_TA] += 1
                                    _push(fr, st, F_EXIT, p, 0, 0)
                                    turned = True
                                    break
                            if not turned:
                                for j in range(lo, hi):
                                    r = acq[j]
                                    _q_append(
                                        qh, qt, nd, st, qbase[r] + acq_lvl[j], p, pi[p, PI_WSEQ]
                                    )
                                    pl[r, PL_WAITING] += 1
                                pi[p, PI_WKIND] = 2
                                wait = True
                    if wait and has_pat[s] and pi[p, PI_ARMED] != pi[p, PI_TOKEN]:  # Engine._wait
                        pi[p, PI_ARMED] = pi[p, PI_TOKEN]
                        vis = visits[p, revisit_slot[s]] if revisit_slot[s] >= 0 else 0
                        if vis >= nvis:
                            st[ST_ERR] = 1
                            break
                        o = pat_draw_off[pi[p, PI_SRC], s, vis]
                        deadline = pft[p, 1] + values[o + pi[p, PI_N]]
                        sc_t, sc_kind, sc_a, sc_b, sc_c = (
                            max(deadline, t),
                            E_RENEGE,
                            p,
                            pi[p, PI_TOKEN],
                            0,
                        )
                elif op in (F_GRANT, F_GRANT_ALL):  # Engine._grant / _grant_all
                    s = pi[p, PI_STEP]
                    lo, hi = acq_off[s], acq_off[s + 1]
                    jlo, jhi = (lo, hi) if op == F_GRANT_ALL else (0, 1)
                    for j in range(jlo, jhi):
                        if op == F_GRANT:
                            r, unit = x, y
                        else:
                            r = acq[j]
                            if r == x:
                                unit = y
                            else:
                                unit = uh_remove_at(fh, r, pl[r, PL_FREE], 0)
                                pl[r, PL_FREE] -= 1
                        nh = pi[p, PI_NHELD]
                        if nh >= held_cap:
                            st[ST_ERR] = 1
                            break
                        hr[p, nh] = r
                        hu[p, nh] = unit
                        pi[p, PI_NHELD] = nh + 1
                        pl[r, PL_BUSY] += 1
                        if op == F_GRANT:
                            tr_r = r
                        else:
                            tr_change(
                                tlast, tlevel, tarea, ttop, tdaily, r, t, pl[r, PL_BUSY], w0, w1
                            )
                    if op == F_GRANT:
                        pi[p, PI_ACQ] += 1
                    else:
                        pi[p, PI_ACQ] = hi - lo
                    if pi[p, PI_ACQ] < hi - lo:
                        _push(fr, st, F_REQUEST, p, acq[lo + pi[p, PI_ACQ]], 0)
                    else:
                        _push(fr, st, F_BEGIN, p, 0, 0)
                elif op == F_BEGIN:  # Engine._begin, from release_on_acquire[x] on
                    s = pi[p, PI_STEP]
                    if roa_off[s] + x < roa_off[s + 1]:
                        _push(fr, st, F_BEGIN, p, x + 1, 0)
                        _push(fr, st, F_RELEASE, p, roa[roa_off[s] + x], 0)
                        break
                    mk_key = hb[3] + s
                    if has_dur[s]:
                        slot = 0
                        if dur_attr[s] >= 0:
                            v = attr[pi[p, PI_ROW], dur_attr[s]]
                            slot = _case(v, dur_case_off, dur_case, s)
                        vis = visits[p, revisit_slot[s]] if revisit_slot[s] >= 0 else 0
                        if vis >= nvis:
                            st[ST_ERR] = 1
                            break
                        o = dur_off[pi[p, PI_SRC], s, slot, vis]
                        sc_t, sc_kind, sc_a, sc_b, sc_c = (
                            t + values[o + pi[p, PI_N]],
                            E_STEP_DONE,
                            p,
                            0,
                            0,
                        )
                    else:
                        _push(fr, st, F_FINISH, p, 0, 0)
                elif op == F_FINISH:  # Engine._finish, from release_after[x] on
                    s = pi[p, PI_STEP]
                    if x == 0:
                        mk_key = hb[4] + s
                    if ra_off[s] + x < ra_off[s + 1]:
                        _push(fr, st, F_FINISH, p, x + 1, 0)
                        _push(fr, st, F_RELEASE, p, ra[ra_off[s] + x], 0)
                        break
                    v = attr[pi[p, PI_ROW], route_attr[s]] if route_attr[s] >= 0 else -1
                    tab = step_tab_off[s] + _case(v, route_case_off, route_case, s)
                    tlo, thi = tab_off[tab], tab_off[tab + 1]
                    target = tab_target[tlo]
                    if thi - tlo > 1:
                        vis = visits[p, revisit_slot[s]] if revisit_slot[s] >= 0 else 0
                        if vis >= nvis:
                            st[ST_ERR] = 1
                            break
                        u = values[route_off[pi[p, PI_SRC], s, vis] + pi[p, PI_N]]
                        target = tab_target[thi - 1]
                        for j in range(tlo, thi):
                            if u < tab_cum[j]:
                                target = tab_target[j]
                                break
                    _push(fr, st, F_ADVANCE, p, target, 0)
                elif op == F_EXIT:  # Engine._exit
                    if x == 0:
                        mk_key = hb[1] + pi[p, PI_PW]
                    if pi[p, PI_NHELD] > 0:
                        _push(fr, st, F_EXIT, p, 1, 0)
                        _push(fr, st, F_RELEASE, p, hr[p, 0], 0)
                elif op == F_RELEASE:  # Engine._release
                    r = x
                    nh = pi[p, PI_NHELD]
                    idx = -1
                    for j in range(nh):
                        if hr[p, j] == r:
                            idx = j
                            break
                    if idx < 0:
                        break
                    unit = hu[p, idx]
                    for j in range(idx, nh - 1):
                        hr[p, j] = hr[p, j + 1]
                        hu[p, j] = hu[p, j + 1]
                    pi[p, PI_NHELD] = nh - 1
                    pl[r, PL_BUSY] -= 1
                    tr_r = r
                    mk_key = hb[5] + pi[p, PI_PW] * n_res + r
                    _push(fr, st, F_UNIT_FREE, r, unit, 0)
                elif op == F_UNIT_FREE:  # Engine._unit_free; here p is the pool, x the unit
                    r, unit = p, x
                    if pl[r, PL_PFN] > 0:
                        clock = pfr[r, pl[r, PL_PFH]]
                        pl[r, PL_PFH] = (pl[r, PL_PFH] + 1) % pf_cap
                        pl[r, PL_PFN] -= 1
                        pl[r, PL_DOWN] += 1  # Engine._take_down
                        if clock >= 0:
                            g = clk_base[r] + clock
                            if rep_pos[g] >= ncyc:
                                st[ST_ERR] = 1
                                break
                            hours = repair[g, rep_pos[g]]
                            rep_pos[g] += 1
                        else:
                            hours = maint_dur[maint_off[r] - 2 - clock]
                        sc_t, sc_kind, sc_a, sc_b, sc_c = t + hours, E_REPAIR, clock, r, unit
                        break
                    if pl[r, PL_CLOSING] > 0:
                        pl[r, PL_CLOSING] -= 1
                        uh_push(ch, r, pl[r, PL_CLOSED], unit)
                        pl[r, PL_CLOSED] += 1
                        break
                    found = -1
                    for lvl in range(levels[r]):
                        q = qbase[r] + lvl
                        if not has_all[r]:  # Pool.pop_fifo: live heads only, stale ones dropped
                            while qh[q] >= 0:
                                node = qh[q]
                                pp, seq = nd[node, 0], nd[node, 1]
                                _q_unlink(qh, qt, nd, st, q, node, -1)
                                if pi[pp, PI_WSEQ] == seq:
                                    pi[pp, PI_WSEQ] = seq + 1
                                    pi[pp, PI_WKIND] = 0
                                    pl[r, PL_WAITING] -= 1
                                    found = pp
                                    break
                        else:  # Engine._servable
                            prev = -1
                            node = qh[q]
                            while node >= 0:
                                pp = nd[node, 0]
                                if pi[pp, PI_WSEQ] == nd[node, 1]:
                                    s2 = pi[pp, PI_STEP]
                                    ok = True
                                    if mode_all[s2]:
                                        for j in range(acq_off[s2], acq_off[s2 + 1]):
                                            if acq[j] != r and pl[acq[j], PL_FREE] == 0:
                                                ok = False
                                                break
                                    if ok:
                                        _q_unlink(qh, qt, nd, st, q, node, prev)
                                        found = pp
                                        break
                                prev = node
                                node = nd[node, 2]
                            if found < 0:
                                while qh[q] >= 0 and pi[nd[qh[q], 0], PI_WSEQ] != nd[qh[q], 1]:
                                    _q_unlink(qh, qt, nd, st, q, qh[q], -1)
                            else:
                                _unwait(found, pi, pl, acq_off, acq)
                        if found >= 0:
                            break
                    if found < 0:
                        uh_push(fh, r, pl[r, PL_FREE], unit)
                        pl[r, PL_FREE] += 1
                    elif mode_all[pi[found, PI_STEP]]:
                        _push(fr, st, F_GRANT_ALL, found, r, unit)
                    else:
                        _push(fr, st, F_GRANT, found, r, unit)
                elif op == F_POST_REPAIR:  # rest of Engine._repaired: the clock's next failure
                    r, clock = p, x
                    if clock >= 0:
                        g = clk_base[r] + clock
                        if ttf_pos[g] >= ncyc:
                            st[ST_ERR] = 1
                            break
                        sc_t, sc_kind, sc_a, sc_b, sc_c = (
                            t + ttf[g, ttf_pos[g]],
                            E_FAIL,
                            0,
                            r,
                            clock,
                        )
                        ttf_pos[g] += 1
                elif op == F_REOPEN:  # a closed unit reopens (Engine._set_open, rising)
                    r = p
                    unit = uh_remove_at(ch, r, pl[r, PL_CLOSED], 0)
                    pl[r, PL_CLOSED] -= 1
                    _push(fr, st, F_UNIT_FREE, r, unit, 0)
                else:  # F_POST_CAPACITY: Engine._next_capacity
                    r, i = p, x
                    lo, hi = sched_off[r], sched_off[r + 1]
                    j = (i + 1) % (hi - lo)
                    gap = (sched_hour[lo + j] - sched_hour[lo + i]) % 168
                    if gap == 0:
                        gap = 168
                    sc_t, sc_kind, sc_a, sc_b, sc_c = t + float(gap), E_CAPACITY, 0, r, j
            # Deferred work of the frame, written out here rather than called: a helper taking
            # arrays costs reference-count updates at every call in this loop (numba cannot
            # prune them across its branches), which cost more than the work itself. A frame
            # changes at most one occupancy, marks at most one hook list and schedules at most
            # one event, and none of them affects the rest of the frame, so doing them last
            # changes nothing.
            if tr_r >= 0:  # OccupancyTracker.change, as kernels.tr_change
                i = tr_r
                new = pl[i, PL_BUSY]
                a0 = tlast[i] if tlast[i] > w0 else w0
                b0 = t if t < w1 else w1
                lvl = tlevel[i]
                if b0 > a0 and lvl:
                    tarea[i] += lvl * (b0 - a0)
                    day = int((a0 - w0) // 24.0)
                    while a0 < b0:
                        edge = w0 + (day + 1) * 24.0
                        seg_end = b0 if b0 < edge else edge
                        if day < ndays:
                            tdaily[i, day] += lvl * (seg_end - a0)
                        a0 = seg_end
                        day += 1
                if tlast[i] <= w0 < t and lvl > ttop[i]:
                    ttop[i] = lvl
                if w0 <= t < w1 and new > ttop[i]:
                    ttop[i] = new
                tlast[i] = t
                tlevel[i] = new
            if mk_key >= 0:  # Engine._mark, as the reference does
                cnt = pi[p, PI_CNT] == 1
                for j in range(hk_off[mk_key], hk_off[mk_key + 1]):
                    ki = hk_kpi[j]
                    role = hk_role[j]
                    take = False
                    value = 0.0
                    if role == 0:
                        if marks[p, ki] == -1.0:
                            marks[p, ki] = t
                    elif role == 1:
                        start = marks[p, ki]
                        if start >= 0.0:
                            marks[p, ki] = -2.0
                            take = cnt
                            value = t - start
                    elif cnt:
                        take = True
                        value = t - pft[p, 1]
                    if take:
                        n = st[ST_SMP]
                        if n >= smp_v.shape[0]:
                            st[ST_ERR] = 1
                            break
                        smp_k[n] = ki
                        smp_v[n] = value
                        st[ST_SMP] = n + 1
            if sc_kind >= 0:  # Engine._schedule, as kernels.ev_push does
                n = st[ST_HEAP]
                if n >= et.shape[0]:
                    st[ST_ERR] = 1
                    break
                st[ST_SEQ] += 1
                i = n
                while i > 0:
                    par = (i - 1) >> 1
                    if et[par] <= sc_t:
                        break
                    et[i] = et[par]
                    for q in range(5):
                        ek[i, q] = ek[par, q]
                    i = par
                et[i] = sc_t
                ek[i, 0] = st[ST_SEQ]
                ek[i, 1] = sc_kind
                ek[i, 2] = sc_a
                ek[i, 3] = sc_b
                ek[i, 4] = sc_c
                st[ST_HEAP] = n + 1

    for i in range(ntr):  # OccupancyTracker.close
        if tlast[i] < w1:
            tr_change(tlast, tlevel, tarea, ttop, tdaily, i, w1, tlevel[i], w0, w1)
    return (
        st[ST_ERR],
        events,
        smp_k[: st[5]],
        smp_v[: st[5]],
        tarea,
        ttop,
        tdaily,
        pl[:, PL_REQ].copy(),
        pl[:, PL_TA].copy(),
        step_entries,
        reneged,
    )
