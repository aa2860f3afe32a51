"""The experiment file: which model, which variants, which questions, validated by pydantic.

An experiment compares a model's baseline with named scenarios and with the points of a full
factorial sweep of parameters, all under the same seed (common random numbers), and may ask
three questions on top: how many replications are enough, how long the warm-up should be, and
the smallest value of one parameter that meets a KPI goal. Problems are reported by field path
(``sweeps[1].step: must be greater than 0``), as for twin definitions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from caretwin.errors import DefinitionError
from caretwin.model.loader import parse_yaml, read_text_file

__all__ = [
    "ExperimentSpec",
    "ReplicationAdvisorSpec",
    "RunOverrides",
    "SweepAxis",
    "TargetSpec",
    "WarmupAdvisorSpec",
    "experiment_schema",
    "load_spec",
    "parse_spec",
    "spec_from_data",
]

Number = int | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Range(_Strict):
    """Either an explicit ``values`` list or an arithmetic ``from``/``to``/``step`` range."""

    values: list[Number] | None = Field(None, min_length=1)
    start: Number | None = Field(None, alias="from")
    stop: Number | None = Field(None, alias="to")
    step: Number | None = Field(None, gt=0)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def has_range(self) -> bool:
        return self.values is not None or self.start is not None or self.stop is not None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        ranged = (self.start, self.stop, self.step)
        if self.values is not None and any(v is not None for v in ranged):
            raise ValueError("give either 'values' or 'from'/'to'/'step', not both")
        if self.values is None and any(v is not None for v in ranged):
            if any(v is None for v in ranged):
                raise ValueError("a range needs all of 'from', 'to' and 'step'")
            assert self.start is not None and self.stop is not None
            if self.stop < self.start:
                raise ValueError("'to' must not be smaller than 'from'")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("'values' must not repeat a value")
        return self


class SweepAxis(_Range):
    """One swept parameter: a dotted path as in scenarios, and its values."""

    path: str = Field(
        min_length=1, description="Dotted field path, e.g. resources.ward_bed.capacity"
    )

    @model_validator(mode="after")
    def _needs_values(self) -> Self:
        if not self.has_range():
            raise ValueError("a sweep axis needs 'values' or 'from'/'to'/'step'")
        return self


class TargetSpec(_Range):
    """The smallest value of ``vary`` for which the mean of ``kpi`` is below (or above) a goal.

    The values searched are the target's own ``values`` or ``from``/``to``/``step`` when given
    (e.g. a finer grid than the sweep plots), else those of the sweep axis with path ``vary``.
    """

    kpi: str
    below: float | None = None
    above: float | None = None
    vary: str = Field(min_length=1)
    method: Literal["bisect", "scan"] = Field(
        "bisect",
        description="bisect assumes the KPI is monotone in the value (checked at the end); "
        "scan evaluates every value.",
    )

    @model_validator(mode="after")
    def _one_goal(self) -> Self:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' and 'above'")
        return self

    @property
    def goal(self) -> float:
        value = self.below if self.below is not None else self.above
        assert value is not None
        return value


class ReplicationAdvisorSpec(_Strict):
    """Hoad, Robinson & Davies (2010): replications until the CI half-width stays small."""

    kpi: str
    half_width: float = Field(gt=0, description="Target 95% CI half-width (share if relative).")
    relative: bool = True
    k_limit: int = Field(5, ge=0, description="Look-ahead: replications it must stay below.")
    min_replications: int = Field(3, ge=3)
    max_replications: int = Field(200, ge=3)


class WarmupAdvisorSpec(_Strict):
    """Welch's graphical method on a resource's daily occupancy, from an empty start."""

    resource: str
    window: int = Field(7, ge=1, description="Moving-average half-window w in days.")
    tolerance: float = Field(
        0.02, gt=0, lt=1, description="Settled: within this share of the final level."
    )
    run_days: float | None = Field(None, gt=0, description="Length of the advisor's runs.")
    replications: int | None = Field(None, ge=2)


class Advisors(_Strict):
    replications: ReplicationAdvisorSpec | None = None
    warmup: WarmupAdvisorSpec | None = None


class RunOverrides(_Strict):
    """Overrides of the model's run window (e.g. shorter runs while exploring)."""

    warmup_days: float | None = Field(None, ge=0)
    run_days: float | None = Field(None, gt=0)
    cooldown_days: float | None = Field(None, ge=0)


class ExperimentSpec(_Strict):
    """An experiment file."""

    name: str | None = Field(None, description="Shown in the report title.")
    description: str = ""
    model: str = Field(min_length=1, description="Model file (relative to this file) or example.")
    replications: int | None = Field(None, ge=2, description="Default: the model's run setting.")
    seed: int | None = Field(None, ge=0, description="Default: the model's run setting.")
    run: RunOverrides | None = None
    scenarios: list[str] = Field(default_factory=list)
    sweeps: list[SweepAxis] = Field(default_factory=list)
    kpis: list[str] | None = Field(None, min_length=1, description="Default: every KPI.")
    target: TargetSpec | None = None
    advisors: Advisors = Field(default_factory=Advisors)
    max_variants: int = Field(200, ge=1, description="Refuse sweeps larger than this.")

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        paths = [a.path for a in self.sweeps]
        if len(set(paths)) != len(paths):
            raise ValueError("each sweep path may appear once")
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError("each scenario may appear once")
        return self

    def to_data(self) -> dict[str, Any]:
        """Plain data in the file's form (aliases such as ``from``), as stored in manifests."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for item in loc:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out or "(root)"


def spec_from_data(data: Any, *, source: str = "experiment") -> ExperimentSpec:
    if not isinstance(data, dict):
        raise DefinitionError(f"{source}: an experiment must be a mapping")
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        problems = [(_loc(e["loc"]), e["msg"]) for e in exc.errors()]
        raise DefinitionError(f"{source} is not a valid experiment", problems=problems) from None


def parse_spec(text: str, *, source: str = "experiment") -> ExperimentSpec:
    return spec_from_data(parse_yaml(text, source), source=source)


def load_spec(path: Path | str) -> ExperimentSpec:
    return parse_spec(read_text_file(path, "experiment"), source=str(path))


def experiment_schema() -> dict[str, Any]:
    """JSON Schema of the experiment file (``caretwin experiment --schema``)."""
    schema: dict[str, Any] = ExperimentSpec.model_json_schema(by_alias=True)
    return schema
