"""The parameters of CareTwin's own job kinds, validated when a job is submitted.

A bad request fails at submit time (unknown model or scenario, a run length out of range), not
later on a worker. Models name shipped examples or carry a twin definition's text: a job never
reads a path of the server's file system that a client chose.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from caretwin.model import (
    Scenario,
    apply_scenario,
    example_names,
    example_path,
    load_definition,
    parse_definition,
    scenario_names,
)
from caretwin.model.definition import RunSettings, TwinDefinition

__all__ = [
    "MAX_REPLICATIONS",
    "CalibrateParams",
    "ExperimentParams",
    "IngestParams",
    "PullParams",
    "ReproduceParams",
    "SimulateParams",
    "SynthParams",
    "ValidationParams",
    "check_example",
]

#: The most replications one job may ask for: a guard against a request tying up the server.
MAX_REPLICATIONS = 1000
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_example(model: str) -> str:
    if model not in example_names():
        raise ValueError(f"unknown model {model!r}; one of: {', '.join(example_names())}")
    return model


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulateParams(_Params):
    """A simulation of a shipped example (``model``) or of a definition's YAML text."""

    model: str = Field(description="an example's name, or a label when `definition` is given")
    definition: str | None = Field(default=None, max_length=2_000_000)
    scenarios: list[str] = Field(default_factory=lambda: ["baseline"], max_length=50)
    replications: int | None = Field(default=None, ge=1, le=MAX_REPLICATIONS)
    seed: int | None = Field(default=None, ge=0)
    run_days: float | None = Field(default=None, gt=0, le=3650)
    warmup_days: float | None = Field(default=None, ge=0, le=3650)
    saved: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        max_length=50,
        description=(
            "saved scenarios as pinned when the job was submitted: NAME@vN -> overrides "
            "(caretwin.services.scenarios); they run after `scenarios`"
        ),
    )

    def twin(self) -> TwinDefinition:
        """The definition to simulate, with the run length asked for and the saved scenarios
        added as scenarios of their ``NAME@vN``."""
        if self.definition is not None:
            defn = parse_definition(self.definition, source=self.model)
        else:
            defn = load_definition(example_path(check_example(self.model)))
        if self.saved:
            added = {k: Scenario(set=dict(v)) for k, v in self.saved.items()}
            defn = defn.model_copy(update={"scenarios": {**defn.scenarios, **added}})
        changes = {
            k: v
            for k, v in (("run_days", self.run_days), ("warmup_days", self.warmup_days))
            if v is not None
        }
        if not changes:
            return defn
        run = RunSettings.model_validate({**defn.run.model_dump(), **changes})
        return defn.model_copy(update={"run": run})

    @model_validator(mode="after")
    def _known(self) -> Self:
        defn = self.twin()
        for name in self.run_names(defn):
            apply_scenario(defn, name)  # ScenarioNotFound before anything is queued
        return self

    def run_names(self, defn: TwinDefinition) -> list[str]:
        """The scenarios the run simulates: ``scenarios`` (``all``: the model's own), then the
        saved ones, with the baseline first when saved ones are there to compare with it."""
        names = self.scenarios or ["baseline"]
        if names == ["all"]:
            names = [n for n in scenario_names(defn) if n not in self.saved]
        if self.saved and "baseline" not in names:
            names = ["baseline", *names]
        return [*names, *self.saved]


class ExperimentParams(_Params):
    """An experiment spec (as ``caretwin experiment`` reads from YAML) on a shipped example or
    on a definition's text."""

    spec: dict[str, Any]
    definition: str | None = Field(default=None, max_length=2_000_000)

    @model_validator(mode="after")
    def _known(self) -> Self:
        from caretwin.experiment import spec_from_data

        spec = spec_from_data(self.spec)
        if self.definition is None:
            check_example(spec.model)
        else:
            parse_definition(self.definition, source=spec.model)
        return self


class CalibrateParams(_Params):
    """A calibration of the lake into ``<workspace>/models/<out>.yaml``."""

    out: str = Field(default="calibrated", description="the fitted model's file name (no path)")
    template: str | None = Field(default=None, description="an example's name (default: RH1)")
    date_from: date | None = None
    date_to: date | None = None

    @model_validator(mode="after")
    def _known(self) -> Self:
        if not _SAFE_NAME.match(self.out) or self.out.startswith("."):
            raise ValueError("out: letters, digits, '.', '_' and '-' only, no path")
        if self.template is not None:
            check_example(self.template)
        return self


class IngestParams(_Params):
    """The files of an upload (``POST /api/v1/ingests``), kept under ``<workspace>/uploads``."""

    upload: str = Field(pattern=r"^upl-[0-9a-f]{16}$")


class PullParams(_Params):
    """A pull of a configured source (``caretwin sources pull``)."""

    source: str = Field(min_length=1, max_length=100)
    bulk: bool = False
    since: str | None = Field(default=None, max_length=40)
    types: list[str] | None = Field(default=None, max_length=50)


class SynthParams(_Params):
    """Synthetic EHR and CMMS data from a shipped example, into ``<workspace>/synth/<job>``."""

    model: str
    days: int = Field(ge=1, le=3650)
    seed: int = Field(default=0, ge=0)
    scenario: str | None = None
    start_date: date | None = None

    @model_validator(mode="after")
    def _known(self) -> Self:
        defn = load_definition(example_path(check_example(self.model)))
        apply_scenario(defn, self.scenario)
        return self


class ReproduceParams(_Params):
    """A re-run of a recorded run, compared exactly."""

    run_id: str = Field(min_length=1, max_length=100)


class ValidationParams(_Params):
    """A validation plan run on the lake: a shipped plan's name or the plan's YAML text."""

    plan: str | None = Field(default=None, description="a shipped plan (GET /validation/plans)")
    plan_yaml: str | None = Field(default=None, max_length=200_000)

    @model_validator(mode="after")
    def _one_plan(self) -> Self:
        from caretwin.errors import DefinitionError
        from caretwin.validation import parse_plan, plan_names

        if (self.plan is None) == (self.plan_yaml is None):
            raise ValueError("give exactly one of plan (a shipped plan's name) and plan_yaml")
        if self.plan is not None and self.plan not in plan_names():
            raise ValueError(f"unknown plan {self.plan!r}; one of: {', '.join(plan_names())}")
        if self.plan_yaml is not None:
            try:
                parse_plan(self.plan_yaml)
            except DefinitionError as exc:
                raise ValueError(str(exc)) from None
        return self
