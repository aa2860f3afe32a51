"""Resource pools of the engine: free units, priority queues, closures and pending outages.

A pool's queue is one FIFO deque per priority level (level 0 first). Entries are
``(patient, wait_seq)``; a patient that stops waiting (served, or left when its patience ran
out, or served by another pool of an ``acquire_mode: all`` request) bumps its ``wait_seq``, which
turns its entries elsewhere stale: they are skipped when met instead of searched for and removed.
``waiting`` counts the live entries (what a ``queue_limit`` is compared with).

Invariant after every event: no waiting request could be served now. So a new request finds a
free unit only if nobody servable waits, and ``free`` non-empty means only blocked
``acquire_mode: all`` requests (lacking another pool) wait here.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from caretwin.sim.compiled import CResource
from caretwin.sim.kpis import OccupancyTracker

if TYPE_CHECKING:
    from caretwin.sim.engine import Patient

Entry = tuple["Patient", int]


class Pool:
    __slots__ = (
        "busy",
        "capacity_tracker",
        "closed",
        "closing",
        "down",
        "free",
        "has_all",
        "open",
        "pending_failures",
        "queue_limit",
        "queues",
        "requests",
        "tracker",
        "turned_away",
        "waiting",
    )

    def __init__(self, res: CResource, w0: float, w1: float, open0: int) -> None:
        self.free = list(range(open0))  # a heap: lowest free unit is assigned first
        self.closed = list(range(open0, res.capacity))  # a heap of units closed by the schedule
        self.closing = 0  # closures waiting for busy units to become free
        self.open = open0  # scheduled open capacity (closing units already not counted)
        self.queues: list[deque[Entry]] = [deque() for _ in range(res.levels)]
        self.waiting = 0
        self.has_all = res.has_all
        # failure clocks (>= 0) and maintenance markers (< 0) waiting for an idle unit
        self.pending_failures: deque[int] = deque()
        self.busy = 0
        self.down = 0
        self.tracker = OccupancyTracker(w0, w1)
        self.capacity_tracker = OccupancyTracker(w0, w1)
        self.capacity_tracker.change(0.0, open0)
        self.queue_limit = res.queue_limit
        self.requests = 0  # by counted patients, for turned-away shares
        self.turned_away = 0

    def pop_fifo(self) -> Patient | None:
        """The first live entry by priority then arrival (pools without all-mode requests)."""
        for q in self.queues:
            while q:
                p, seq = q.popleft()
                if p.wait_seq == seq:
                    return p
        return None
