"""Calibration: fitting arrival rates, durations, routing and device reliability from the lake.

:func:`calibrate_lake` turns a template twin definition and the lake into a calibrated
definition with a provenance header; :func:`observed_kpis` measures the observable KPIs of a date
range for validation against simulation. The statistical core (:mod:`~caretwin.calibrate.fitting`)
works on numpy arrays and knows nothing of the lake.
"""

from __future__ import annotations

from caretwin.calibrate.fit import (
    MIN_OBSERVATIONS,
    CalibrationResult,
    ParameterRow,
    calibrate_lake,
    default_window,
)
from caretwin.calibrate.fitting import (
    FAMILIES,
    DurationFit,
    Proportion,
    RateFit,
    exponential_mean_from_exposure,
    fit_duration,
    poisson_rates,
)
from caretwin.calibrate.kpis import observed_kpis

__all__ = [
    "FAMILIES",
    "MIN_OBSERVATIONS",
    "CalibrationResult",
    "DurationFit",
    "ParameterRow",
    "Proportion",
    "RateFit",
    "calibrate_lake",
    "default_window",
    "exponential_mean_from_exposure",
    "fit_duration",
    "observed_kpis",
    "poisson_rates",
]
