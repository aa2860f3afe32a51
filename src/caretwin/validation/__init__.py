"""Validation as a study: plans declared in advance, rolling-origin backtests, predictive
validation of stored forecasts, the verification suite, evidence with sign-off, and the
scorecard that decides each acceptance criterion (``docs/validation.md``).

The packages below do the work on a lake and a template; the audited, recorded operations are
``caretwin.services.validation``.

How far the twin can be trusted: parameter uncertainty carried from calibration into
simulation (:mod:`.uncertainty`), offered load per resource (:mod:`.load`) and drift of new data
against a calibration (:mod:`.drift`); runaway replications are flagged by the engines' results
(:mod:`caretwin.sim.stability`).
"""

from __future__ import annotations

from caretwin.validation.backtest import Backtest, kpi_units, run_backtest, with_unit_occupancy
from caretwin.validation.criteria import build_scorecard
from caretwin.validation.evidence import EvidenceRecord, EvidenceStore, Signoff
from caretwin.validation.forecasts import ForecastValidation, StoredForecast, validate_forecasts
from caretwin.validation.holdout import HoldoutRow, holdout_rows
from caretwin.validation.load import ResourceLoad, offered_load
from caretwin.validation.plan import (
    ValidationPlan,
    load_plan,
    parse_plan,
    plan_names,
    plan_schema,
    resolve_plan,
)
from caretwin.validation.scorecard import Scorecard, scorecard_schema
from caretwin.validation.uncertainty import (
    KpiInterval,
    LoadEstimate,
    UncertainResult,
    load_uncertainty,
    simulate_uncertain,
)
from caretwin.validation.verification import VerificationReport, erlang_c, verify_pools

__all__ = [
    "Backtest",
    "EvidenceRecord",
    "EvidenceStore",
    "ForecastValidation",
    "HoldoutRow",
    "KpiInterval",
    "LoadEstimate",
    "ResourceLoad",
    "Scorecard",
    "Signoff",
    "StoredForecast",
    "UncertainResult",
    "ValidationPlan",
    "VerificationReport",
    "build_scorecard",
    "erlang_c",
    "holdout_rows",
    "kpi_units",
    "load_plan",
    "load_uncertainty",
    "offered_load",
    "parse_plan",
    "plan_names",
    "plan_schema",
    "resolve_plan",
    "run_backtest",
    "scorecard_schema",
    "simulate_uncertain",
    "validate_forecasts",
    "verify_pools",
    "with_unit_occupancy",
]
