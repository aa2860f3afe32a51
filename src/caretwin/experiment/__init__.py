"""Experiments: compare scenarios and parameter sweeps under common random numbers.

An experiment file (:class:`ExperimentSpec`) names a model, the scenarios and sweeps to compare
with its baseline, and optional questions: the number of replications needed (Hoad, Robinson &
Davies 2010), the warm-up length (Welch's method), and the smallest value of a parameter that
meets a KPI goal. :func:`run_experiment_spec` runs it and returns an :class:`ExperimentResult`;
the recorded, audited operation is :func:`caretwin.services.experiment.run_experiment`.
"""

from __future__ import annotations

from caretwin.experiment.compare import Comparison, compare_values
from caretwin.experiment.replications import (
    CiPoint,
    ReplicationAdvice,
    advise_replications,
    ci_path,
    look_ahead,
    recommend,
)
from caretwin.experiment.results import ExperimentResult, VariantResult
from caretwin.experiment.run import Progress, run_experiment_spec
from caretwin.experiment.search import Probe, SearchResult, search_smallest
from caretwin.experiment.spec import (
    ExperimentSpec,
    ReplicationAdvisorSpec,
    RunOverrides,
    SweepAxis,
    TargetSpec,
    WarmupAdvisorSpec,
    experiment_schema,
    load_spec,
    parse_spec,
    spec_from_data,
)
from caretwin.experiment.variants import Variant, apply_overrides, axis_values, expand_sweeps
from caretwin.experiment.warmup import WarmupAdvice, moving_average, truncation_point, welch

__all__ = [
    "CiPoint",
    "Comparison",
    "ExperimentResult",
    "ExperimentSpec",
    "Probe",
    "Progress",
    "ReplicationAdvice",
    "ReplicationAdvisorSpec",
    "RunOverrides",
    "SearchResult",
    "SweepAxis",
    "TargetSpec",
    "Variant",
    "VariantResult",
    "WarmupAdvice",
    "WarmupAdvisorSpec",
    "advise_replications",
    "apply_overrides",
    "axis_values",
    "ci_path",
    "compare_values",
    "expand_sweeps",
    "experiment_schema",
    "load_spec",
    "look_ahead",
    "moving_average",
    "parse_spec",
    "recommend",
    "run_experiment_spec",
    "search_smallest",
    "spec_from_data",
    "truncation_point",
    "welch",
]
