"""The validation plan: what a validation study computes and how it decides, declared in advance.

A plan is a YAML file (JSON Schema: :func:`plan_schema`, ``caretwin validation schema``) with a
name and a version like a twin definition, and a content hash that a run records: governance
registers plans and gates on their scorecards, so a plan is frozen before the data are seen.
Each acceptance criterion names its metric, the statistical test that decides it and that
test's error rate (``alpha``: the chance of failing a twin that is in truth as good as the
criterion asks), see ``docs/validation.md``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from caretwin.errors import DefinitionError
from caretwin.model.loader import parse_yaml, read_text_file

__all__ = [
    "PLAN_FORMAT_VERSION",
    "ByHour",
    "Criterion",
    "DataWindows",
    "Metric",
    "Scope",
    "SimulationSettings",
    "Span",
    "Test",
    "ValidationPlan",
    "add_months",
    "load_plan",
    "parse_plan",
    "plan_names",
    "plan_schema",
    "resolve_plan",
]

PLAN_FORMAT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def add_months(d: date, months: int) -> date:
    """``d`` moved by whole calendar months (the day clipped to the month's length)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in_month = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return date(year, month, min(d.day, days_in_month))


class Span(_Strict):
    """A length of calendar time: exactly one of ``months``, ``weeks``, ``days``."""

    months: int | None = Field(None, ge=1)
    weeks: int | None = Field(None, ge=1)
    days: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> Span:
        if sum(x is not None for x in (self.months, self.weeks, self.days)) != 1:
            raise ValueError("give exactly one of months, weeks, days")
        return self

    def after(self, d: date, times: int = 1) -> date:
        """``d`` moved forward by ``times`` of this span."""
        if self.months is not None:
            return add_months(d, self.months * times)
        return d + timedelta(days=(self.days or 7 * (self.weeks or 0)) * times)

    def describe(self) -> str:
        for unit in ("months", "weeks", "days"):
            n = getattr(self, unit)
            if n is not None:
                return f"{n} {unit[:-1] if n == 1 else unit}"
        return ""  # pragma: no cover - the validator forbids it


class DataWindows(_Strict):
    """Rolling origin: fold ``k`` calibrates on ``train`` ending at origin ``k`` and predicts
    the ``horizon`` after it; the first origin is ``start + train``, each next one a horizon
    later. ``sliding`` keeps the training length, ``expanding`` keeps its start."""

    start: date = Field(description="First day of the first training window (00:00 UTC).")
    train: Span
    horizon: Span
    folds: int = Field(ge=1, le=120)
    window: Literal["sliding", "expanding"] = "sliding"

    def fold_windows(self) -> list[tuple[date, date, date]]:
        """(training start, origin, prediction end) of each fold."""
        out = []
        origin = self.train.after(self.start)
        for _ in range(self.folds):
            end = self.horizon.after(origin)
            train_start = self.start
            if self.window == "sliding":
                # the training window ends at the origin and keeps its declared length
                train_start = _back(self.train, origin)
            out.append((train_start, origin, end))
            origin = end
        return out

    @property
    def data_end(self) -> date:
        return self.fold_windows()[-1][2]


def _back(span: Span, d: date) -> date:
    if span.months is not None:
        return add_months(d, -span.months)
    return d - timedelta(days=span.days or 7 * (span.weeks or 0))


class SimulationSettings(_Strict):
    replications: int = Field(100, ge=10, le=5000)
    seed: int = 20260101
    warmup_days: float | None = Field(
        None, ge=0, description="Default: the template's run.warmup_days."
    )


class ByHour(_Strict):
    """Per-patient KPIs broken down by the patient's arrival hour of day, from event traces."""

    kpis: list[Literal["ed_wait_mean_h", "ed_los_mean_h"]] = Field(min_length=1)
    bin_hours: Literal[1, 2, 3, 4, 6, 8, 12] = 4
    replications: int = Field(20, ge=10, le=500)


class Metric(StrEnum):
    coverage = "coverage"
    bias = "bias"
    sharpness = "sharpness"
    pit_uniformity = "pit_uniformity"
    verification = "verification"
    evidence = "evidence"


class Test(StrEnum):
    binomial_blocks = "binomial_blocks"
    newey_west_t = "newey_west_t"
    threshold = "threshold"
    chi2_blocks = "chi2_blocks"
    suite = "suite"
    signed_evidence = "signed_evidence"


class Scope(StrEnum):
    per_kpi = "per_kpi"
    overall = "overall"
    by_unit = "by_unit"
    by_hour = "by_hour"


#: The test each metric may declare.
METRIC_TESTS: dict[Metric, Test] = {
    Metric.coverage: Test.binomial_blocks,
    Metric.bias: Test.newey_west_t,
    Metric.sharpness: Test.threshold,
    Metric.pit_uniformity: Test.chi2_blocks,
    Metric.verification: Test.suite,
    Metric.evidence: Test.signed_evidence,
}


class Criterion(_Strict):
    """One acceptance criterion, declared before the data are seen."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    statement: str = Field(min_length=1, description="What passing means, in plain words.")
    metric: Metric
    test: Test
    scope: Scope = Scope.per_kpi
    kpis: list[str] | None = Field(None, description="Default: every KPI of the backtest.")
    alpha: float | None = Field(
        None, gt=0, lt=0.5, description="Error rate: P(fail | the claim holds)."
    )
    family: Literal["bonferroni", "none"] = Field(
        "bonferroni",
        description="Per-KPI/unit/hour tests at alpha/m so the criterion's error rate is alpha.",
    )
    level: float = Field(0.90, gt=0, lt=1, description="Nominal coverage (coverage metric).")
    max_relative_width: float | None = Field(
        None, gt=0, description="Sharpness: largest mean (hi - lo) / |mean| of the intervals."
    )
    evidence_kind: Literal["face_validity", "cross_model", "verification"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Criterion:
        if METRIC_TESTS[self.metric] != self.test:
            raise ValueError(
                f"metric {self.metric.value} is decided by test {METRIC_TESTS[self.metric].value}"
            )
        statistical = self.test in (Test.binomial_blocks, Test.newey_west_t, Test.chi2_blocks)
        if statistical and self.alpha is None:
            raise ValueError(f"test {self.test.value} needs its error rate alpha")
        if self.metric == Metric.sharpness and self.max_relative_width is None:
            raise ValueError("sharpness needs max_relative_width")
        if self.metric == Metric.evidence and self.evidence_kind is None:
            raise ValueError("evidence needs evidence_kind")
        return self


class ValidationPlan(_Strict):
    """A validation study: data windows, KPIs, the simulation, criteria declared in advance."""

    format_version: Literal[1] = 1
    kind: Literal["validation-plan"] = "validation-plan"
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    version: str = Field(min_length=1, max_length=40)
    author: str = Field(min_length=1, description="Who declared the criteria.")
    description: str = ""
    model: str = Field(
        "reference-hospital", description="Template calibrated on each training window."
    )
    data: DataWindows
    simulation: SimulationSettings = SimulationSettings()
    interval: float = Field(0.90, gt=0.5, lt=1, description="Central prediction interval.")
    kpis: list[str] | None = Field(None, description="Default: every KPI the lake observes.")
    by_hour: ByHour | None = None
    criteria: list[Criterion] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> ValidationPlan:
        ids = [c.id for c in self.criteria]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"criterion ids must be unique: {', '.join(dup)}")
        return self

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return data

    def content_hash(self) -> str:
        raw = orjson.dumps(self.to_data(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(raw).hexdigest()


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of the plan format."""
    schema: dict[str, Any] = ValidationPlan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "CareTwin validation plan"
    return schema


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(plan)"


def parse_plan(text: str, *, source: str = "plan") -> ValidationPlan:
    data = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise DefinitionError(f"{source}: a validation plan must be a mapping")
    try:
        return ValidationPlan.model_validate(data)
    except ValidationError as exc:
        problems = [
            (_path(e["loc"]), "unknown field" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        ]
        raise DefinitionError(
            f"{source} is not a valid validation plan", problems=problems
        ) from None


def load_plan(path: Path | str) -> ValidationPlan:
    return parse_plan(read_text_file(path, "validation plan"), source=str(path))


def _shipped() -> Any:
    return importlib.resources.files("caretwin.validation") / "plans"


def plan_names() -> list[str]:
    """The plans shipped with CareTwin (``caretwin validation plans``)."""
    return sorted(p.name[:-5] for p in _shipped().iterdir() if p.name.endswith(".yaml"))


def resolve_plan(plan: str | Path) -> tuple[ValidationPlan, str]:
    """A plan file, else a shipped plan by name; with where it came from."""
    p = Path(plan)
    if p.exists() or str(plan) not in plan_names():
        return load_plan(p), str(p)
    text = (_shipped() / f"{plan}.yaml").read_text(encoding="utf-8")
    return parse_plan(text, source=f"shipped plan {plan}"), f"shipped:{plan}"
