"""The twin definition: a typed, versioned description of a hospital-operations model.

A definition names resource pools, arrival streams, pathways of steps, run settings, KPIs and
scenarios. Pathway semantics (shared by every engine):

* a step first requests the resources in ``acquire`` in order, FIFO per pool (within its
  ``priority``, lower first), keeping everything the patient already holds while it waits; this
  is how boarding (an ED space kept while waiting for a ward bed) and blocking (an ICU bed kept
  while waiting for a step-down bed) arise; ``acquire_mode: all`` instead waits until every one is
  free at once; a patient still waiting when its ``patience`` runs out leaves the pathway;
* the instant the last of them is assigned, ``release_on_acquire`` is released;
* the patient then holds for ``duration`` (zero when absent), releases ``release_after``, and
  moves to the next step chosen by ``next`` (one step id, ``exit``, or probabilistic routes);
* at ``exit`` everything still held is released.

Cross-field rules (routing sums, references to unknown resources or steps) are checked in
:mod:`caretwin.model.validation` so that every problem is reported with its field path at once.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Hashable
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, field_validator
from pydantic_core import core_schema

from caretwin.model.distributions import Distribution
from caretwin.model.extensions import (
    WEEKDAY_INDEX,
    AttributeValues,
    CapacitySchedule,
    Duration,
    MaintenanceWindow,
    Route,
    RouteCases,
    Weekday,
    string_keys,
)

__all__ = ["WEEKDAY_INDEX", "Route", "Weekday"]  # re-exported: older imports name this module

EXIT = "exit"
FORMAT_VERSION: Literal[1] = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FailureModel(_Strict):
    """Random failures of the units of a pool, each unit with its own calendar-time clock.

    When a clock fires the pool loses one unit as soon as one is idle: the failure goes ahead of
    every waiting request but never interrupts work in progress. After ``repair`` the unit is back
    and its clock restarts.
    """

    time_to_failure: Distribution
    repair: Distribution


class ResourceKind(enum.StrEnum):
    bed = "bed"
    treatment_space = "treatment_space"
    staff = "staff"
    device = "device"
    other = "other"


class ResourcePool(_Strict):
    capacity: int = Field(ge=0, description="Number of identical units in the pool.")
    kind: ResourceKind = ResourceKind.bed
    label: str | None = None
    unit: str | None = Field(
        None, description="Location or asset code of this pool in the hospital's data (e.g. ICU)."
    )
    failures: FailureModel | None = None
    queue_limit: int | None = Field(
        None,
        ge=0,
        description=(
            "Most requests that may wait; one more is turned away and leaves the pathway "
            "(0 makes a loss system, e.g. diversion). None: no limit."
        ),
    )
    schedule: CapacitySchedule | None = Field(
        None,
        description=(
            "Open capacity by hour of week: 168 values (Monday 0:00 first) or windows "
            "{days, from_hour, to_hour, capacity}; hours no window covers keep `capacity`. "
            "Each value is at most `capacity` (the physical units)."
        ),
    )
    maintenance: list[MaintenanceWindow] = Field(
        default_factory=list, description="Planned downtime windows (preventive maintenance)."
    )


class PoissonArrivals(_Strict):
    """Non-homogeneous Poisson arrivals, rate piecewise constant per hour of day or of week."""

    type: Literal["poisson"] = "poisson"
    pathway: str
    rates: list[Annotated[float, Field(ge=0)]] = Field(
        description=(
            "Patients per hour: 24 values (hour of day) or 168 (hour of week, Monday 0:00 first)."
        )
    )
    multiplier: float = Field(1.0, ge=0, description="Scales every rate (surge scenarios).")
    attributes: dict[str, AttributeValues] = Field(
        default_factory=dict,
        description="Patient attributes drawn at arrival: attribute -> {value: probability}.",
    )

    _attr_keys = field_validator("attributes", mode="before")(string_keys)


class ScheduledArrivals(_Strict):
    """A batch of patients arriving together at a given hour on given weekdays (electives)."""

    type: Literal["scheduled"] = "scheduled"
    pathway: str
    weekdays: list[Weekday] = Field(min_length=1)
    at_hour: float = Field(ge=0, lt=24)
    count: int = Field(ge=0)
    attributes: dict[str, AttributeValues] = Field(
        default_factory=dict,
        description="Patient attributes drawn at arrival: attribute -> {value: probability}.",
    )

    _attr_keys = field_validator("attributes", mode="before")(string_keys)


Arrival = Annotated[PoissonArrivals | ScheduledArrivals, Field(discriminator="type")]


class Step(_Strict):
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    label: str | None = None
    acquire: list[str] = Field(default_factory=list)
    acquire_mode: Literal["sequence", "all"] = Field(
        "sequence",
        description=(
            "sequence: request `acquire` in order, holding each unit while waiting for the next; "
            "all: wait until every one is free at once, holding none of them meanwhile."
        ),
    )
    priority: int = Field(
        0, description="Queue priority at the pools of `acquire`: lower is served first."
    )
    patience: Distribution | None = Field(
        None, description="How long a patient waits for `acquire` before leaving the pathway."
    )
    release_on_acquire: list[str] = Field(default_factory=list)
    duration: Duration | None = None
    release_after: list[str] = Field(default_factory=list)
    next: str | list[Route] | RouteCases = EXIT


class Pathway(_Strict):
    label: str | None = None
    steps: list[Step] = Field(min_length=1, description="The first step is the entry.")

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


class RunSettings(_Strict):
    warmup_days: float = Field(0.0, ge=0)
    run_days: float = Field(gt=0)
    cooldown_days: float = Field(0.0, ge=0)
    replications: int = Field(10, ge=1)
    seed: int = Field(0, ge=0)

    @property
    def warmup_h(self) -> float:
        return self.warmup_days * 24.0

    @property
    def window_end_h(self) -> float:
        return (self.warmup_days + self.run_days) * 24.0

    @property
    def horizon_h(self) -> float:
        return (self.warmup_days + self.run_days + self.cooldown_days) * 24.0


Stat = Literal["mean", "pct_over", "count", "median", "p90", "p95"]


class KpiConfig(_Strict):
    """Base of every entry of ``kpis``: the built-in kinds below and plugins' kinds.

    A kind is registered through the ``register_kpis`` hook (:mod:`caretwin.plugins`) with its
    subclass of this model, whose ``type`` is ``Literal[kind]``; the built-in kinds are
    registered the same way (:mod:`caretwin.sim.kpi_plugin`).
    """

    type: str
    label: str | None = None
    unit: str = ""


class IntervalKpi(KpiConfig):
    """A per-patient interval between two markers of a pathway.

    Markers: ``arrival``, ``exit``, ``request:STEP``, ``start:STEP`` (resources assigned),
    ``end:STEP`` (duration over), ``release:RESOURCE``. A patient counts when its hospital
    arrival is in the run window and the end marker is reached by the end of the cool-down.
    """

    type: Literal["interval"] = "interval"
    label: str | None = None
    unit: str = "h"
    pathway: str
    start: str
    end: str
    stat: Stat = "mean"
    threshold: float | None = Field(None, description="For pct_over: the interval limit.")


class WaitKpi(KpiConfig):
    """Time from request to assignment at one or more steps, each given as ``pathway.step``."""

    type: Literal["wait"] = "wait"
    label: str | None = None
    unit: str = "h"
    steps: list[str] = Field(min_length=1)
    stat: Stat = "mean"
    threshold: float | None = None


class OccupancyKpi(KpiConfig):
    """Time-average (or maximum) units held of a pool over the run window."""

    type: Literal["occupancy"] = "occupancy"
    label: str | None = None
    unit: str = "units"
    resource: str
    stat: Literal["mean", "max"] = "mean"


class TurnedAwayKpi(KpiConfig):
    """Share (``pct``) or number (``count``) of requests a queue limit turned away."""

    type: Literal["turned_away"] = "turned_away"
    label: str | None = None
    unit: str = "%"
    resource: str
    stat: Literal["pct", "count"] = "pct"


class RenegedKpi(KpiConfig):
    """Share (``pct``) or number (``count``) of patients who left the listed steps (each
    ``pathway.step``, with a ``patience``) while still waiting: left without being seen."""

    type: Literal["reneged"] = "reneged"
    label: str | None = None
    unit: str = "%"
    steps: list[str] = Field(min_length=1)
    stat: Literal["pct", "count"] = "pct"


class UtilisationKpi(KpiConfig):
    """Units held as a share of the open (scheduled) capacity, time-weighted over the window."""

    type: Literal["utilisation"] = "utilisation"
    label: str | None = None
    unit: str = "%"
    resource: str


BUILTIN_KPIS: tuple[type[KpiConfig], ...] = (
    IntervalKpi,
    WaitKpi,
    OccupancyKpi,
    TurnedAwayKpi,
    RenegedKpi,
    UtilisationKpi,
)


class _RegisteredKpi:
    """The ``kpis`` entries: a union, tagged by ``type``, of every registered KPI kind.

    Built when :class:`TwinDefinition` is first used (``defer_build``), from the registry of
    the ``register_kpis`` hook, so plugins' kinds are validated, serialised and shown by
    ``caretwin schema`` like the built-in ones, and no plugin loads before a definition is used.
    """

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from caretwin.model.kpi_kinds import kpi_configs

        choices: dict[Hashable, core_schema.CoreSchema] = {
            kind: handler.generate_schema(model) for kind, model in kpi_configs().items()
        }
        return core_schema.tagged_union_schema(choices, discriminator="type")


Kpi = Annotated[KpiConfig, _RegisteredKpi]


class Scenario(_Strict):
    """Named overrides: dotted field paths (list items addressed by ``id``) to new values."""

    description: str = ""
    set: dict[str, Any] = Field(default_factory=dict)


class TwinDefinition(_Strict):
    # the KPI union is built from the plugin registry at first use (see _RegisteredKpi)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    format_version: Literal[1] = FORMAT_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = "1"
    description: str = ""
    time_unit: Literal["hours"] = "hours"
    provenance: dict[str, Any] | None = Field(
        None, description="Where the parameters came from (written by calibration)."
    )
    resources: dict[str, ResourcePool]
    arrivals: dict[str, Arrival]
    pathways: dict[str, Pathway]
    run: RunSettings
    kpis: dict[str, Kpi] = Field(default_factory=dict)
    scenarios: dict[str, Scenario] = Field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        """Plain data in the YAML form (aliases, no unset defaults lost)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the definition: the model identity in manifests."""
        raw = orjson.dumps(self.to_data(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(raw).hexdigest()
