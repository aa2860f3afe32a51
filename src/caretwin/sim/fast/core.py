"""The fast core: :class:`caretwin.sim.engine.Engine` as one jitted loop over flat arrays.

Why it is bit-identical to the reference engine: the random numbers are the reference's
(:mod:`.randoms`), events carry the same (time, seq) keys, and the reference's nested calls
(``_release`` inside ``_begin``/``_finish``/``_exit`` hands a unit to a waiting patient, whose
own flow may release more, ...) run in the same depth-first order, through an explicit stack of
continuation frames instead of recursion: a handler that must "do X, then go on with Y" pushes
Y, then X. Frames are ``(op, p, x, y)``; ``p`` is a patient (or a pool for pool-level ops).

State layout: patient integer fields in ``pi[p, PI_*]``, pool fields in ``pl[r, PL_*]``, free
and closed units as min-heaps per pool row, queues as singly linked lists of nodes (patient,
wait_seq) with a free list, one FIFO per (pool, priority level).
"""

from __future__ import annotations

import numpy as np

from caretwin.sim.fast._jit import inline
from caretwin.sim.fast.kernels import (
    ST_ERR,
    ST_FREE,
    ST_NODE,
    ST_SP,
)

# event kinds, as in the reference engine
E_ARRIVAL, E_STEP_DONE, E_FAIL, E_REPAIR, E_RENEGE, E_CAPACITY, E_MAINT = range(7)
# frame ops
(
    F_ADVANCE,
    F_REQUEST,
    F_REQUEST_ALL,
    F_GRANT,
    F_GRANT_ALL,
    F_BEGIN,
    F_FINISH,
    F_EXIT,
    F_RELEASE,
    F_UNIT_FREE,
    F_ARRIVE,
    F_POST_ARRIVAL,
    F_POST_REPAIR,
    F_REOPEN,
    F_POST_CAPACITY,
) = range(15)
# patient integer fields
PI_SRC, PI_N, PI_PW, PI_CNT, PI_STEP, PI_ACQ, PI_TOKEN, PI_ARMED = range(8)
PI_WSEQ, PI_WKIND, PI_WPOOL, PI_NHELD, PI_ROW = range(8, 13)
N_PI = 13
# pool integer fields
PL_BUSY, PL_WAITING, PL_FREE, PL_CLOSED, PL_CLOSING, PL_OPEN, PL_DOWN = range(7)
PL_REQ, PL_TA, PL_PFH, PL_PFN = range(7, 11)
N_PL = 11


@inline
def _push(fr: np.ndarray, st: np.ndarray, op: int, p: int, x: int, y: int) -> None:
    sp = st[ST_SP]
    if sp >= fr.shape[0]:
        st[ST_ERR] = 1
        return
    fr[sp, 0] = op
    fr[sp, 1] = p
    fr[sp, 2] = x
    fr[sp, 3] = y
    st[ST_SP] = sp + 1


@inline
def _case(v: int, off: np.ndarray, case: np.ndarray, s: int) -> int:
    """``case[value]`` of step ``s`` with the default slot last (value -1: no value)."""
    lo = off[s]
    return int(case[lo + v]) if v >= 0 else int(case[off[s + 1] - 1])


@inline
def _q_append(
    qh: np.ndarray, qt: np.ndarray, nd: np.ndarray, st: np.ndarray, q: int, p: int, seq: int
) -> None:
    """Append (p, seq) to queue q; nodes ``nd[i] = (patient, seq, next)``."""
    node = st[ST_FREE]
    if node >= 0:
        st[ST_FREE] = nd[node, 2]
    else:
        node = st[ST_NODE]
        if node >= nd.shape[0]:
            st[ST_ERR] = 1
            return
        st[ST_NODE] = node + 1
    nd[node, 0] = p
    nd[node, 1] = seq
    nd[node, 2] = -1
    if qt[q] < 0:
        qh[q] = node
    else:
        nd[qt[q], 2] = node
    qt[q] = node


@inline
def _q_unlink(
    qh: np.ndarray, qt: np.ndarray, nd: np.ndarray, st: np.ndarray, q: int, node: int, prev: int
) -> None:
    nxt = nd[node, 2]
    if prev < 0:
        qh[q] = nxt
    else:
        nd[prev, 2] = nxt
    if qt[q] == node:
        qt[q] = prev
    nd[node, 2] = st[ST_FREE]
    st[ST_FREE] = node


@inline
def _unwait(p: int, pi: np.ndarray, pl: np.ndarray, acq_off: np.ndarray, acq: np.ndarray) -> None:
    pi[p, PI_WSEQ] += 1
    if pi[p, PI_WKIND] == 1:
        pl[pi[p, PI_WPOOL], PL_WAITING] -= 1
    elif pi[p, PI_WKIND] == 2:
        s = pi[p, PI_STEP]
        for j in range(acq_off[s], acq_off[s + 1]):
            pl[acq[j], PL_WAITING] -= 1
    pi[p, PI_WKIND] = 0
