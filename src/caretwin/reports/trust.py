"""What the report says about how far the run can be trusted: the 90 % interval of each
expected KPI under parameter uncertainty, the offered load per resource and the share of
runaway replications (docs/validity.md). Plain data, filled in by the simulation service."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KpiTrust", "LoadRow", "TrustInput"]


@dataclass(frozen=True)
class KpiTrust:
    name: str
    label: str
    unit: str
    mean: float
    interval90: tuple[float, float]
    parameter_share: float


@dataclass(frozen=True)
class LoadRow:
    resource: str
    rho: float
    rho_interval90: tuple[float, float]
    p_rho_above_1: float


@dataclass(frozen=True)
class TrustInput:
    scenario: str
    replications: int
    runaway: int  # replications flagged runaway
    load: list[LoadRow] = field(default_factory=list)
    kpis: list[KpiTrust] = field(default_factory=list)  # empty without parameter uncertainty
    draws: int | None = None
    reps_per_draw: int | None = None
