"""The event trace: what happened to each patient and device in one replication.

The engine records a trace only when asked (the synthetic-data generator needs one; KPI runs do
not). It is columnar, one row per event, so a year of a hospital (~10^6 events) stays a few tens
of megabytes. Columns:

``time``    float64  hours since t = 0 (a Monday 00:00)
``kind``    int8     one of :class:`EventKind`
``entity``  int64    patient id (0, 1, ...) or -1 for device events
``ref``     int32    step index (REQUEST/START/END), resource index (ACQUIRE/RELEASE/FAIL/DOWN/UP),
                     pathway index (ARRIVE/EXIT), or -1
``unit``    int32    unit index within the pool (ACQUIRE/RELEASE/DOWN/UP), clock index (FAIL),
                     arrival stream index (ARRIVE), or -1
``aux``     int32    for DOWN/UP: the failure clock index (>= 0) that caused the outage, or
                     ``-2 - w`` for planned maintenance by window ``w`` of the pool's
                     ``maintenance`` list (no FAIL event precedes those); else -1

Step indexes are global: ``trace.step_names[i]`` is ``"pathway.step"``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class EventKind(enum.IntEnum):
    ARRIVE = 0
    REQUEST = 1
    ACQUIRE = 2
    START = 3
    END = 4
    RELEASE = 5
    EXIT = 6
    FAIL = 7  # a failure clock fired: the CMMS "failure reported" instant
    DOWN = 8  # a unit was taken out of service (the first instant one was idle)
    UP = 9  # repair finished; the unit is back in the pool


@dataclass
class TraceRecorder:
    """Appends events during a run; turned into a :class:`Trace` at the end."""

    time: list[float] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    entity: list[int] = field(default_factory=list)
    ref: list[int] = field(default_factory=list)
    unit: list[int] = field(default_factory=list)
    aux: list[int] = field(default_factory=list)

    def add(
        self, t: float, kind: int, entity: int, ref: int, unit: int = -1, aux: int = -1
    ) -> None:
        self.time.append(t)
        self.kind.append(kind)
        self.entity.append(entity)
        self.ref.append(ref)
        self.unit.append(unit)
        self.aux.append(aux)

    def finish(
        self,
        step_names: list[str],
        resource_names: list[str],
        pathway_names: list[str],
        arrival_names: list[str],
        horizon_h: float,
    ) -> Trace:
        return Trace(
            time=np.asarray(self.time, dtype=np.float64),
            kind=np.asarray(self.kind, dtype=np.int8),
            entity=np.asarray(self.entity, dtype=np.int64),
            ref=np.asarray(self.ref, dtype=np.int32),
            unit=np.asarray(self.unit, dtype=np.int32),
            aux=np.asarray(self.aux, dtype=np.int32),
            step_names=step_names,
            resource_names=resource_names,
            pathway_names=pathway_names,
            arrival_names=arrival_names,
            horizon_h=horizon_h,
        )


@dataclass
class Trace:
    time: np.ndarray
    kind: np.ndarray
    entity: np.ndarray
    ref: np.ndarray
    unit: np.ndarray
    aux: np.ndarray
    step_names: list[str]
    resource_names: list[str]
    pathway_names: list[str]
    arrival_names: list[str]
    horizon_h: float

    def __len__(self) -> int:
        return int(self.time.shape[0])
