"""Where a run starts on the model's weekly calendar: capacity and downtime at its t = 0.

A run's own clock starts at 0; ``CompiledModel.calendar_offset_h`` is the model's clock at that
moment (hours since the model's Monday 00:00). A cold run of a whole model starts at offset 0; a
warm start (:mod:`caretwin.sim.warmstart`) starts at the state's hour of the week. Both engines
take their first schedule change and maintenance window from these functions, so they cannot
place them differently, and at offset 0 the results are what the engines computed before the
offset existed (``x + 0.0 == x`` and ``x - 0.0 == x`` for every float they use).

Maintenance windows repeat every ``every_days`` from ``first_day``. A cold run starts at the
model's origin (offset 0 in practice), so its first window is on ``first_day``. A warm start
stands in a hospital that has been running all along: its calendar extends back before the
state (windows at ``first_day`` + k periods for every integer k), and a window that started at or
before the state is the state's business (a unit down for maintenance is in its devices). A
state gives only the hour of the week, so windows are exact when their period is a whole number
of weeks; others are placed as if the state fell in the model's first week.
"""

from __future__ import annotations

import math

from caretwin.model.extensions import HOURS_PER_WEEK, MaintenanceWindow
from caretwin.sim.compiled import CResource

__all__ = ["first_change", "first_window", "open_at"]


def open_at(res: CResource, offset: float) -> int:
    """Units of ``res`` open at the model hour ``offset`` (its schedule, else its capacity)."""
    if not res.schedule:
        return min(res.open_at_start, res.capacity)
    hour = math.floor(offset % HOURS_PER_WEEK)
    before = [cap for h, cap in res.schedule if h <= hour]
    return min(before[-1] if before else res.schedule[-1][1], res.capacity)


def first_change(res: CResource, offset: float) -> tuple[int, float]:
    """(index in ``res.schedule``, run time) of the first capacity change after the start; a
    change exactly at the start is the open capacity already (:func:`open_at`)."""
    phase = offset % HOURS_PER_WEEK
    for i, (hour, _) in enumerate(res.schedule):
        if hour > phase:
            return i, float(hour) - phase
    return 0, float(res.schedule[0][0] + HOURS_PER_WEEK) - phase


def first_window(win: MaintenanceWindow, offset: float, *, warm: bool = False) -> float:
    """Run time of the first window of ``win``: at or after the start of a cold run, strictly
    after the state of a warm start (see the module docs)."""
    start = win.first_day * 24.0 + win.start_hour
    period = win.every_days * 24.0
    if warm:
        t = start + (math.floor((offset - start) / period) + 1) * period - offset
        return t if t > 0.0 else t + period  # rounding at an exact multiple
    return start + max(0, math.ceil((offset - start) / period)) * period - offset
