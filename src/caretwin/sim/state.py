"""The current state of a hospital, to start a simulation from instead of from empty.

A :class:`HospitalState` says who is where *now*: patients in a step with the time they have
spent in it and the units they hold (a ward patient 30 h into the stay holds a ward bed; an ED
boarder 2 h into the wait for a ward bed still holds an ED space), patients waiting with the time
they have waited, devices out of service with the time the repair (or the planned maintenance)
has taken so far, and the clock (``as_of``). It is plain JSON so a bed board or an EHR extract
can produce it::

    {"format_version": 1, "as_of": "2026-03-02T08:00:00",
     "patients": [{"step": "ed.ward", "status": "waiting", "elapsed_h": 2, "holds": ["ed_space"]},
                  {"step": "ed.ward", "status": "in_service", "elapsed_h": 30,
                   "holds": ["ward_bed"], "count": 120}],
     "devices": [{"resource": "ct", "elapsed_h": 1.5}]}

The model's t = 0 is a Monday 00:00, so ``as_of`` (a date-time in the hospital's local time, or
an hour of the week) decides which hourly arrival rates, elective days, staffing levels and
maintenance windows come next (:mod:`caretwin.sim.calendar`).
:func:`check_state` validates a state against a model and names every problem by field path.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from caretwin.errors import DataError
from caretwin.model.definition import TwinDefinition

HOURS_PER_WEEK = 168.0


class InvalidState(DataError):
    """A state that does not fit its model. ``problems`` lists ``(field path, message)``."""

    code = "invalid_state"

    def __init__(self, message: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            message, details={"problems": [{"path": p, "message": m} for p, m in problems]}
        )

    def __str__(self) -> str:
        return "\n".join([self.message] + [f"  {p}: {m}" for p, m in self.problems])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientState(_Strict):
    """``count`` identical patients in one step of a pathway."""

    step: str = Field(description='"pathway.step" the patients are in.')
    status: Literal["in_service", "waiting"] = Field(
        description="in_service: resources assigned, the step's duration running; waiting: "
        "queued for the step's next resource."
    )
    elapsed_h: float = Field(
        ge=0, description="Hours since the step started (in_service) or was requested (waiting)."
    )
    holds: list[str] = Field(
        default_factory=list,
        description="Resource pools the patient holds a unit of, including those kept from "
        "earlier steps (an ED space while boarding).",
    )
    count: int = Field(1, ge=1)
    ref: str | None = Field(
        None, description="An opaque reference for the caller (never a patient identifier)."
    )


class DeviceState(_Strict):
    """``count`` units of a pool that are out of service (failed, or in planned maintenance)."""

    resource: str
    status: Literal["down", "pending", "maintenance"] = Field(
        "down",
        description="down: under repair for elapsed_h; pending: failure reported, the unit is "
        "still in use and goes down as soon as it is idle; maintenance: out for the pool's "
        "planned maintenance window `window` since elapsed_h (back after its duration_h).",
    )
    elapsed_h: float = Field(0.0, ge=0)
    count: int = Field(1, ge=1)
    window: int | None = Field(
        None,
        ge=0,
        description="maintenance: index of the window in the pool's maintenance list (default 0).",
    )

    @property
    def window_index(self) -> int:
        return self.window or 0


class HospitalState(_Strict):
    format_version: Literal[1] = 1
    model: str | None = Field(None, description="The model the state was made for (informative).")
    as_of: datetime | None = Field(None, description="Local date-time of the state.")
    hour_of_week: float | None = Field(
        None, ge=0, lt=HOURS_PER_WEEK, description="Hours since Monday 00:00 (instead of as_of)."
    )
    patients: list[PatientState] = Field(default_factory=list)
    devices: list[DeviceState] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_clock(self) -> HospitalState:
        if (self.as_of is None) == (self.hour_of_week is None):
            raise ValueError("give exactly one of as_of and hour_of_week")
        return self

    def start_hour(self) -> float:
        """The state's time as hours since a Monday 00:00 (the model's calendar)."""
        if self.hour_of_week is not None:
            return self.hour_of_week
        assert self.as_of is not None
        a = self.as_of
        return (
            a.weekday() * 24.0 + a.hour + a.minute / 60.0 + (a.second + a.microsecond / 1e6) / 3600
        )

    def patient_count(self) -> int:
        return sum(p.count for p in self.patients)

    def to_json_bytes(self) -> bytes:
        data = self.model_dump(mode="json", exclude_none=True)
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)


def parse_state(data: Any) -> HospitalState:
    """A state from plain data; pydantic errors become :class:`InvalidState` with field paths."""
    try:
        return HospitalState.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [
            (".".join(str(x) for x in e["loc"]) or "<root>", e["msg"]) for e in exc.errors()
        ]
        raise InvalidState("the state is not valid", problems) from None


def load_state(path: Path) -> HospitalState:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise DataError(f"cannot read the state {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise DataError(f"the state {path} is not JSON: {exc}") from None
    return parse_state(data)


def acquired_prefix(acquire: list[str], holds: Counter[str]) -> int:
    """How many of a step's ``acquire`` (requested in order) ``holds`` already covers."""
    left = Counter(holds)
    for i, r in enumerate(acquire):
        if left[r] <= 0:
            return i
        left[r] -= 1
    return len(acquire)


def check_state(state: HospitalState, defn: TwinDefinition) -> None:
    """Raise :class:`InvalidState` naming every way ``state`` does not fit ``defn``."""
    problems: list[tuple[str, str]] = []
    held: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for i, p in enumerate(state.patients):
        path = f"patients[{i}]"
        pw_name, _, step_id = p.step.partition(".")
        pw = defn.pathways.get(pw_name)
        step = next((s for s in pw.steps if s.id == step_id), None) if pw else None
        if step is None:
            problems.append((f"{path}.step", f"no step {p.step!r} in the model"))
            continue
        if not math.isfinite(p.elapsed_h):
            problems.append((f"{path}.elapsed_h", "must be finite"))
        unknown = [j for j, r in enumerate(p.holds) if r not in defn.resources]
        for j in unknown:
            problems.append((f"{path}.holds[{j}]", f"no resource {p.holds[j]!r} in the model"))
        if unknown:
            continue
        holds = Counter(p.holds)
        for r, n in holds.items():
            held[r] += n * p.count
        k = acquired_prefix(step.acquire, holds)
        if p.status == "in_service":
            if step.duration is None:
                problems.append((f"{path}.status", f"{p.step} takes no time; nobody is in it"))
            elif k < len(step.acquire):
                problems.append(
                    (f"{path}.holds", f"in service at {p.step} needs {sorted(step.acquire)}")
                )
        elif not step.acquire:
            problems.append((f"{path}.status", f"{p.step} acquires nothing; nobody waits at it"))
        elif k == len(step.acquire):
            problems.append(
                (f"{path}.holds", f"holds everything {p.step} acquires; it is in service")
            )
        else:
            waiting[step.acquire[k]] += p.count
    down: Counter[str] = Counter()
    for i, d in enumerate(state.devices):
        pool = defn.resources.get(d.resource)
        if pool is None:
            problems.append((f"devices[{i}].resource", f"no resource {d.resource!r} in the model"))
        elif d.status == "maintenance":
            if d.window_index >= len(pool.maintenance):
                have = len(pool.maintenance)
                problems.append(
                    (f"devices[{i}].window", f"{d.resource} has {have} maintenance window(s)")
                )
            else:
                down[d.resource] += d.count
        elif pool.failures is None:
            problems.append((f"devices[{i}].resource", f"{d.resource} has no failure model"))
        elif d.status == "down":
            down[d.resource] += d.count
    for name, pool in defn.resources.items():
        used = held[name] + down[name]
        if used > pool.capacity:
            problems.append(
                (
                    f"resources.{name}",
                    f"{held[name]} units held + {down[name]} down exceed the capacity "
                    f"{pool.capacity}",
                )
            )
        if pool.queue_limit is not None and waiting[name] > pool.queue_limit:
            problems.append(
                (
                    f"resources.{name}",
                    f"{waiting[name]} patients wait but the queue limit is {pool.queue_limit}",
                )
            )
        pending = sum(
            d.count for d in state.devices if d.resource == name and d.status == "pending"
        )
        if pool.failures is not None and pending + down[name] > pool.capacity:
            problems.append((f"resources.{name}", "more failures than units"))
    if problems:
        raise InvalidState(f"the state does not fit the model {defn.name!r}", problems)
