"""The scorecard: what a validation run found, criterion by criterion, as JSON with a schema.

``Scorecard.model_json_schema()`` (``caretwin validation schema --scorecard``) is the documented
shape; ``schema_version`` changes when a field changes meaning. Every float that could not be
computed is ``null``, never NaN, so the JSON is strict.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from caretwin.validation.evidence import EvidenceRecord
from caretwin.validation.forecasts import ForecastValidation
from caretwin.validation.verification import VerificationReport

__all__ = [
    "SCORECARD_SCHEMA_VERSION",
    "CoverageRow",
    "CriterionResult",
    "CriterionTest",
    "Fold",
    "KpiVerdict",
    "PitHistogram",
    "Prediction",
    "Scorecard",
    "scorecard_schema",
]

SCORECARD_SCHEMA_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fold(_Frozen):
    """One rolling origin: calibrated on ``[train_start, origin)``, predicted ``[origin, end)``."""

    index: int
    train_start: date
    origin: date
    end: date
    model_hash: str


class Prediction(_Frozen):
    """One KPI of one predicted period (``group`` ``all``, or an arrival-hour bin)."""

    fold: int
    kpi: str
    unit: str
    group: str = "all"
    observed: float | None
    mean: float | None
    sd: float | None
    lo: float | None
    hi: float | None
    pit: float | None
    covered: bool | None


class CoverageRow(_Frozen):
    """Interval coverage of one subject (a KPI, a unit, an hour bin, or everything)."""

    scope: Literal["overall", "per_kpi", "by_unit", "by_hour"]
    subject: str
    n: int
    hits: int
    coverage: float | None
    mean_error: float | None = Field(None, description="observed - predicted mean, KPI units")
    mean_z: float | None = Field(None, description="mean of (observed - mean) / sd")


class PitHistogram(_Frozen):
    subject: str
    counts: list[int]


class CriterionTest(_Frozen):
    """The test of one subject of a criterion."""

    subject: str
    estimate: float | None
    statistic: float | None
    p_value: float | None
    n: int
    n_effective: float | None
    passed: bool | None
    summary: str


class CriterionResult(_Frozen):
    id: str
    statement: str
    metric: str
    test: str
    scope: str
    alpha: float | None = Field(None, description="The criterion's declared error rate.")
    alpha_per_test: float | None = Field(None, description="alpha / subjects (bonferroni).")
    passed: bool | None = Field(description="null: could not be decided (no data)")
    tests: list[CriterionTest]
    summary: str


class KpiVerdict(_Frozen):
    """Whether the twin can predict one KPI, by the plan's per-KPI criteria."""

    kpi: str
    label: str
    unit: str
    can_predict: bool | None
    reasons: list[str]


class Scorecard(_Frozen):
    schema_version: Literal[1] = 1
    plan_name: str
    plan_version: str
    plan_hash: str
    plan_author: str
    model: str
    template_hash: str
    data_hash: str
    generated_at: datetime
    interval: float
    intervals_from: str = Field(description="What the prediction intervals account for.")
    replications: int
    folds: list[Fold]
    predictions: list[Prediction]
    coverage: list[CoverageRow]
    pit: list[PitHistogram]
    criteria: list[CriterionResult]
    verdicts: list[KpiVerdict]
    verification: VerificationReport | None = None
    evidence: list[EvidenceRecord] = Field(default_factory=list)
    forecasts: ForecastValidation | None = None
    passed: bool = Field(description="every criterion passed")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json")
        return data

    def coverage_table(self, scope: str) -> list[CoverageRow]:
        return [r for r in self.coverage if r.scope == scope]


def scorecard_schema() -> dict[str, Any]:
    schema: dict[str, Any] = Scorecard.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "CareTwin validation scorecard"
    return schema
