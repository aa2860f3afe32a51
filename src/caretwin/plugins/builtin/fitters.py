"""CareTwin's duration families (:mod:`caretwin.calibrate.fitting`) as fitters, registered
through the ``register_fitters`` hook like any plugin's: exponential, lognormal, gamma, Weibull
(maximum likelihood with ``loc`` fixed at 0, right-censoring through the survival function)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from caretwin.plugins import FittedFamily, FitterSpec, hookimpl

if TYPE_CHECKING:
    import numpy as np

DESCRIPTIONS = {
    "exponential": "exponential (closed form, censoring included)",
    "lognormal": "lognormal (closed form; Tobit likelihood on the log scale when censored)",
    "gamma": "gamma (scipy MLE; CensoredData when censored)",
    "weibull": "Weibull (scipy MLE; CensoredData when censored)",
}


def fit_builtin(family: str, x: np.ndarray, censored: np.ndarray) -> FittedFamily:
    from caretwin.calibrate.fitting import fitted_family

    return fitted_family(family, x, censored)


@hookimpl
def register_fitters() -> list[FitterSpec]:
    # the parameter counts of caretwin.calibrate.fitting._SCIPY, without importing scipy here
    n_params = {"exponential": 1, "lognormal": 2, "gamma": 2, "weibull": 2}
    return [
        FitterSpec(family, n_params[family], partial(fit_builtin, family), DESCRIPTIONS[family])
        for family in ("exponential", "lognormal", "gamma", "weibull")
    ]
