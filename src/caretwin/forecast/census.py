"""The census of every pool at each hour mark of a replication, collected as the engine runs.

A :class:`CensusRecorder` stands in for the trace recorder: it keeps no event rows, only the
number of units held per pool, and copies it at each whole hour. The census at mark ``h`` is the
state after every event at times ``<= h`` (the same convention as :func:`state_at`), so mark 0
is the starting state itself.
"""

from __future__ import annotations

import numpy as np

from caretwin.sim.trace import EventKind, TraceRecorder

_ACQUIRE = int(EventKind.ACQUIRE)
_RELEASE = int(EventKind.RELEASE)


class CensusRecorder(TraceRecorder):
    """Units held per pool at marks 0, 1, ..., ``hours`` (hours since the run's start)."""

    def __init__(self, n_resources: int, hours: int) -> None:
        super().__init__()
        self.hours = hours
        self.busy = [0] * n_resources
        self.census = np.zeros((hours + 1, n_resources), dtype=np.int32)
        self._next = 0

    def add(
        self, t: float, kind: int, entity: int, ref: int, unit: int = -1, aux: int = -1
    ) -> None:
        if kind != _ACQUIRE and kind != _RELEASE:
            return
        while self._next <= self.hours and t > self._next:
            self.census[self._next] = self.busy
            self._next += 1
        self.busy[ref] += 1 if kind == _ACQUIRE else -1

    def close(self) -> np.ndarray:
        """Fill the marks after the last change; returns the (hours + 1, pools) census."""
        while self._next <= self.hours:
            self.census[self._next] = self.busy
            self._next += 1
        return self.census
