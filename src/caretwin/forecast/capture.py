"""Capturing a :class:`HospitalState` from a simulation trace at a time ``t``.

Who holds what at ``t`` is rebuilt from the trace's events at times ``<= t``: a patient is in
the hospital between its ARRIVE and EXIT; its step is its last REQUEST; it is in service if a
START follows that request (elapsed = t − start), else waiting (elapsed = t − request); it holds
every unit it acquired and has not released. A device unit is down between DOWN and UP (for
planned maintenance when the DOWN carries a window's marker, else for repair); a failure clock
that fired without its DOWN yet is a pending failure. A maintenance window that has not yet
found an idle unit at ``t`` leaves no event, so it is not in the state. Used to start forecasts from
a simulated "now" (e.g. to check their coverage against the same long run) and by users to get a
realistic state file to edit.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from caretwin.sim.state import HOURS_PER_WEEK, DeviceState, HospitalState, PatientState
from caretwin.sim.trace import EventKind, Trace


def _last_by_entity(idx: np.ndarray, entity: np.ndarray) -> dict[int, int]:
    """For events at positions ``idx``, the position of each entity's last one."""
    ents = entity[idx]
    uniq, first_rev = np.unique(ents[::-1], return_index=True)
    last = idx[::-1][first_rev]
    return dict(zip(uniq.tolist(), last.tolist(), strict=True))


def census_at(trace: Trace, t: float) -> np.ndarray:
    """Units held per pool at time ``t`` (events at times ``<= t`` applied)."""
    upto = trace.time <= t
    n = len(trace.resource_names)
    acq = np.bincount(trace.ref[upto & (trace.kind == EventKind.ACQUIRE)], minlength=n)
    rel = np.bincount(trace.ref[upto & (trace.kind == EventKind.RELEASE)], minlength=n)
    return (acq - rel)[:n]


def state_at(trace: Trace, t: float, *, model: str | None = None) -> HospitalState:
    """The state of the traced replication at time ``t`` (hours since its Monday 00:00)."""
    upto = trace.time <= t
    kind, entity = trace.kind, trace.entity
    pat = upto & (entity >= 0)
    arrived = set(entity[pat & (kind == EventKind.ARRIVE)].tolist())
    gone = set(entity[pat & (kind == EventKind.EXIT)].tolist())
    alive = arrived - gone
    mask = pat & np.isin(entity, np.fromiter(alive, dtype=np.int64, count=len(alive)))
    req = _last_by_entity(np.nonzero(mask & (kind == EventKind.REQUEST))[0], entity)
    start = _last_by_entity(np.nonzero(mask & (kind == EventKind.START))[0], entity)
    holds: dict[int, Counter[str]] = defaultdict(Counter)
    for k, sign in ((EventKind.ACQUIRE, 1), (EventKind.RELEASE, -1)):
        for e, r in zip(
            entity[mask & (kind == k)].tolist(), trace.ref[mask & (kind == k)].tolist(), strict=True
        ):
            holds[e][trace.resource_names[r]] += sign
    groups: Counter[tuple[str, str, float, tuple[str, ...]]] = Counter()
    for e in sorted(alive):
        r_i = req[e]
        s_i = start.get(e, -1)
        in_service = s_i > r_i
        since = trace.time[s_i] if in_service else trace.time[r_i]
        held = tuple(sorted(holds[e].elements()))
        step = trace.step_names[int(trace.ref[r_i])]
        groups[(step, "in_service" if in_service else "waiting", float(t - since), held)] += 1
    patients = [
        PatientState(step=s, status=st, elapsed_h=el, holds=list(h), count=n)
        for (s, st, el, h), n in groups.items()
    ]
    return HospitalState(
        model=model,
        hour_of_week=float(t % HOURS_PER_WEEK),
        patients=patients,
        devices=_devices(trace, upto, t),
    )


def _devices(trace: Trace, upto: np.ndarray, t: float) -> list[DeviceState]:
    kind = trace.kind
    down_since: dict[tuple[int, int], tuple[float, int]] = {}  # (time, DOWN's aux)
    fired: Counter[tuple[int, int]] = Counter()
    for i in np.nonzero(upto & (trace.entity < 0))[0].tolist():
        r, k = int(trace.ref[i]), int(kind[i])
        if k == EventKind.FAIL:
            fired[(r, int(trace.unit[i]))] += 1
        elif k == EventKind.DOWN:
            aux = int(trace.aux[i])
            if aux >= 0:  # a failure clock; maintenance markers are < 0
                fired[(r, aux)] -= 1
            down_since[(r, int(trace.unit[i]))] = (float(trace.time[i]), aux)
        elif k == EventKind.UP:
            down_since.pop((r, int(trace.unit[i])), None)
    out = [
        DeviceState(resource=trace.resource_names[r], elapsed_h=t - since)
        if aux >= 0
        else DeviceState(
            resource=trace.resource_names[r],
            status="maintenance",
            elapsed_h=t - since,
            window=-2 - aux,  # caretwin.sim.engine.maintenance_marker
        )
        for (r, _), (since, aux) in sorted(down_since.items())
    ]
    for (r, _), n in sorted(fired.items()):
        if n > 0:
            out.append(DeviceState(resource=trace.resource_names[r], status="pending", count=n))
    return out
