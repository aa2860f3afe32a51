"""The data window: which trace rows an extract holds, and sim hours as UTC timestamps.

An extract holds every patient present at some time in ``[start_h, end_h)``: arrived before the
window end and not gone before its start. Patients still in hospital at the window start keep
their earlier history (encounters that began before the start date), as a real EHR extract
would; every event at or after the window end is cut, which leaves encounters in progress,
location entries open and orders active.

Sim time ``warmup_h`` is the start date at 00:00 UTC, so hour of day in the model equals the UTC
hour of the data (docs/data-contract.md). Timestamps are written to the whole second: fine enough
for any duration the model has (the shortest, a CT scan, lasts ~20 minutes), short to read, and,
because each trace row's instant is rounded once and formatted from that integer, two events at
the same instant always print the same text: an entry that ends when the next starts tiles exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from caretwin.errors import ConfigError
from caretwin.sim.trace import EventKind, Trace

DEFAULT_START_DATE = date(2025, 1, 6)  # a Monday, like sim t = 0


@dataclass(frozen=True)
class Window:
    """The data window ``[start_h, end_h)`` in sim hours and the date sim ``start_h`` maps to."""

    start_h: float
    end_h: float
    start_date: date

    @classmethod
    def build(cls, days: int, warmup_h: float, start_date: date) -> Window:
        """Validate and build; the start date must be a Monday because sim t = 0 is a Monday.

        The warm-up must be whole days, otherwise sim hour of day and UTC hour would disagree.
        """
        if days < 1:
            raise ConfigError(f"days must be at least 1, not {days}")
        if start_date.weekday() != 0:
            raise ConfigError(
                f"start date {start_date.isoformat()} is a {start_date.strftime('%A')}; it must "
                "be a Monday because simulation time 0 is a Monday",
                details={"start_date": start_date.isoformat()},
            )
        if warmup_h < 0 or warmup_h % 24:
            raise ConfigError(f"warm-up must be a whole number of days, not {warmup_h / 24:g}")
        return cls(start_h=warmup_h, end_h=warmup_h + 24.0 * days, start_date=start_date)

    @property
    def start_dt(self) -> datetime:
        d = self.start_date
        return datetime(d.year, d.month, d.day, tzinfo=UTC)

    def iso(self, t_h: float) -> str:
        """One sim instant as the UTC text used in the data."""
        dt = self.start_dt + timedelta(seconds=round((t_h - self.start_h) * 3600.0))
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")

    def stamps(self, times: np.ndarray) -> Stamps:
        """The formatter of every trace row's instant (see :class:`Stamps`)."""
        secs = np.rint((times - self.start_h) * 3600.0).astype(np.int64)
        return Stamps(secs.tolist(), self.start_date)

    def patient_rows(self, trace: Trace) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the patients present in the window, grouped by patient, in time order.

        Returns the rows and the offsets of each patient's group within them (with a final end
        offset), so patient ``i`` is ``rows[offsets[i]:offsets[i + 1]]``.
        """
        rows = ((trace.entity >= 0) & (trace.time < self.end_h)).nonzero()[0]
        if not len(rows):
            return rows, np.zeros(1, dtype=np.int64)
        exit_t = np.full(int(trace.entity[rows].max()) + 1, np.inf)
        exits = rows[trace.kind[rows] == EventKind.EXIT]
        exit_t[trace.entity[exits]] = trace.time[exits]
        rows = rows[exit_t[trace.entity[rows]] >= self.start_h]
        rows = rows[np.argsort(trace.entity[rows], kind="stable")]
        bounds = np.flatnonzero(np.diff(trace.entity[rows])) + 1
        return rows, np.concatenate(([0], bounds, [len(rows)])).astype(np.int64)


class Stamps:
    """Trace row -> UTC text, formatted on first use and remembered.

    Lazy because an extract prints only some rows' instants (about half of a year's trace) and
    many rows share one; the text is built from whole seconds since the window start, so the
    same instant always gives the same text.
    """

    def __init__(self, secs: list[int], start: date) -> None:
        self._secs = secs
        self._start = start
        self._days: dict[int, str] = {}
        self._cache: dict[int, str] = {}

    def __getitem__(self, row: int) -> str:
        text = self._cache.get(row)
        if text is None:
            day, sod = divmod(self._secs[row], 86400)
            prefix = self._days.get(day)
            if prefix is None:
                prefix = self._days[day] = (self._start + timedelta(days=day)).isoformat()
            hour, rest = divmod(sod, 3600)
            text = f"{prefix}T{hour:02d}:{rest // 60:02d}:{rest % 60:02d}Z"
            self._cache[row] = text
        return text
