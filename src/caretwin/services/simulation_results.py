"""Typed results of the simulation service under parameter uncertainty and for load.

Kept apart from :mod:`caretwin.services.simulation` so that module stays about running and
recording; these are the shapes ``--format json`` prints for ``interval90``,
``variance_share``, ``load`` and ``runaway_share`` (see docs/validity.md).
"""

from __future__ import annotations

from caretwin.services.results import ServiceResult
from caretwin.validation import LoadEstimate

__all__ = ["LoadFigure", "ParameterDraws", "VarianceShare"]


class VarianceShare(ServiceResult):
    """How the variance behind a KPI's ``interval90`` splits: parameter uncertainty (only more
    data narrows it) and Monte Carlo error (more replications narrow it); they sum to 1."""

    parameters: float
    monte_carlo: float


class LoadFigure(ServiceResult):
    """Offered load of a resource: rho at the calibrated parameters, its 90 % interval and
    the probability that rho > 1 under parameter uncertainty (both the point when the model
    records no uncertainty)."""

    rho: float
    rho_interval90: tuple[float, float]
    p_rho_above_1: float

    @classmethod
    def of(cls, e: LoadEstimate) -> LoadFigure:
        return cls(rho=e.rho, rho_interval90=e.rho_interval90, p_rho_above_1=e.p_rho_above_1)


class ParameterDraws(ServiceResult):
    """How ``--parameter-uncertainty`` split the replications, and the draws' seeds:
    draw ``j`` is ``SeedSequence(entropy, spawn_key=(tag, j))``."""

    draws: int
    reps_per_draw: int
    entropy: int
    spawn_key_tag: int
