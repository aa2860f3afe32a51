"""The data window: which trace rows an extract holds, and sim hours as UTC timestamps.

An extract holds every patient present at some time in ``[start_h, end_h)``: arrived before the
window end and not gone before its start. Patients still in hospital at the window start keep
their earlier history (encounters that began before the start date), as a real EHR extract
would; every event at or after the window end is cut, which leaves encounters in progress,
location entries open and orders active.

Sim time ``warmup_h`` is the start date at 00:00 UTC, so hour of day in the model equals the UTC
hour of the data (docs/data-contract.md). Timestamps are written to the whole second: fine enough
for any duration the model has (the shortest, a CT scan, lasts ~20 minutes), short to read, and —
the point of formatting every trace row once, vectorised — two events at the same instant always
print the same text, so an entry that ends when the next one starts tiles exactly.
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

    def stamps(self, times: np.ndarray) -> list[str]:
        """Every trace time formatted at once (numpy does ~10^6 per second)."""
        base = np.datetime64(self.start_date.isoformat(), "s")
        secs = np.rint((times - self.start_h) * 3600.0).astype(np.int64)
        text = np.datetime_as_string(base + secs.astype("timedelta64[s]"), unit="s")
        out: list[str] = np.char.add(text, "Z").tolist()
        return out

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
