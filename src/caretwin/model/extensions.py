"""Parts of the twin definition beyond RH1: capacity schedules, maintenance windows, patient
attributes and the durations and routes that depend on them.

They live apart from :mod:`caretwin.model.definition` to keep each module small; every field is
optional there, so a definition written without them (RH1) loads and runs exactly as before.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from caretwin.model.distributions import Distribution

HOURS_PER_WEEK = 168


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Weekday(enum.StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


WEEKDAY_INDEX = {d: i for i, d in enumerate(Weekday)}


class CapacityWindow(_Strict):
    """Capacity from ``from_hour`` to ``to_hour`` on each listed day (a window that ends at or
    before it starts runs past midnight into the next day, e.g. 23 -> 7). Later windows win."""

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    from_hour: int = Field(ge=0, le=23)
    to_hour: int = Field(ge=0, le=24)
    capacity: int = Field(ge=0)

    def hours_of_week(self) -> list[int]:
        span = (self.to_hour - self.from_hour) % 24 or 24
        return [
            (WEEKDAY_INDEX[d] * 24 + self.from_hour + k) % HOURS_PER_WEEK
            for d in self.days
            for k in range(span)
        ]


CapacitySchedule = list[Annotated[int, Field(ge=0)]] | list[CapacityWindow]


def hourly_capacity(capacity: int, schedule: CapacitySchedule | None) -> list[int]:
    """The open capacity in each of the 168 hours of the week (Monday 0:00 first)."""
    if not schedule:
        return [capacity] * HOURS_PER_WEEK
    out = [capacity] * HOURS_PER_WEEK
    for h, item in enumerate(schedule):
        if isinstance(item, int):
            out[h] = item  # the 168-value form
        elif isinstance(item, CapacityWindow):
            for hour in item.hours_of_week():
                out[hour] = item.capacity
    return out


class MaintenanceWindow(_Strict):
    """Planned downtime: every ``every_days`` from day ``first_day`` at ``start_hour``, ``units``
    units are taken out at their first idle moment (ahead of waiting patients, never
    interrupting work) for ``duration_h`` hours each."""

    every_days: float = Field(gt=0)
    duration_h: float = Field(gt=0)
    start_hour: float = Field(0.0, ge=0, lt=24)
    first_day: float = Field(0.0, ge=0, description="Day of the first window (0 = first Monday).")
    units: int = Field(1, ge=1)


def _string_keys(value: Any) -> Any:
    """YAML reads ``1: 0.2`` with an integer key; attribute values are names, so make it text."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return value


AttributeValues = dict[str, Annotated[float, Field(ge=0)]]


class DurationCases(_Strict):
    """A duration that depends on a patient attribute: ``cases`` by value, else ``default``."""

    by: str
    cases: dict[str, Distribution] = Field(min_length=1)
    default: Distribution | None = None

    _keys = field_validator("cases", mode="before")(_string_keys)

    def mean(self) -> float:
        """Unweighted mean over the cases (for summaries; the engine uses the case drawn)."""
        dists = [*self.cases.values(), *([self.default] if self.default else [])]
        return sum(d.mean() for d in dists) / len(dists)


def _duration_tag(value: Any) -> str:
    if isinstance(value, DurationCases) or (isinstance(value, dict) and "by" in value):
        return "by_attribute"
    return "distribution"


Duration = Annotated[
    Annotated[Distribution, Tag("distribution")] | Annotated[DurationCases, Tag("by_attribute")],
    Discriminator(_duration_tag),
]
DISCRIMINATOR_TAGS = frozenset({"distribution", "by_attribute"})


class Route(_Strict):
    to: str
    p: float = Field(ge=0, le=1)


class RouteCases(_Strict):
    """Routes that depend on a patient attribute: ``cases`` by value, else ``default``."""

    by: str
    cases: dict[str, list[Route]] = Field(min_length=1)
    default: list[Route] | None = None

    _keys = field_validator("cases", mode="before")(_string_keys)

    def route_lists(self) -> list[tuple[str, list[Route]]]:
        """(label, routes) for every case and the default, for checks and compilation."""
        out = [(f"cases.{k}", v) for k, v in self.cases.items()]
        if self.default is not None:
            out.append(("default", self.default))
        return out


def string_keys(value: Any) -> Any:
    """Public form of the key coercion, for arrival attribute tables."""
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    return value
