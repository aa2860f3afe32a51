"""The report's tables as plain rows of display strings, built from simulation results.

Everything here is pure formatting and arithmetic on :class:`~caretwin.sim.result.KpiSummary`
values; the HTML template only lays the rows out (and escapes them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from caretwin.sim.result import KpiSummary, SimulationResult

MISSING = "—"
Z95 = 1.96  # normal quantile for the per-replication 95% prediction range


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def decimals_for(x: float | None) -> int:
    """Decimals that show a value of this size sensibly (3 significant figures or so)."""
    if x is None or not math.isfinite(x) or x == 0:
        return 2
    a = abs(x)
    if a >= 100:
        return 1
    if a >= 1:
        return 2
    return 3 if a >= 0.01 else 4


def _rounded(x: float, d: int) -> float:
    """``x`` rounded to ``d`` decimals, with a negative zero made positive (no ``-0.00``)."""
    return round(x, d) + 0.0


def fmt(x: float | None, decimals: int | None = None) -> str:
    """A number for display; NaN and None become an em dash."""
    if x is None or not math.isfinite(x):
        return MISSING
    d = decimals_for(x) if decimals is None else decimals
    return f"{_rounded(x, d):,.{d}f}"


def fmt_signed(x: float, decimals: int) -> str:
    """A number with an explicit sign (``+1.20``, ``-0.35``); zero reads ``+0.00``."""
    return f"{_rounded(x, decimals):+,.{decimals}f}" if math.isfinite(x) else MISSING


def fmt_pm(mean: float, half: float) -> str:
    """``mean ± half`` with the decimals of the mean; a missing half-width reads ``± n/a``."""
    if not _finite(mean):
        return MISSING
    d = decimals_for(mean)
    return f"{fmt(mean, d)} ± {fmt(half, d) if _finite(half) else 'n/a'}"


@dataclass(frozen=True)
class ScenarioRow:
    name: str
    replications: int
    seed: int
    events: str
    wall: str
    hash_short: str
    model_hash: str


@dataclass(frozen=True)
class KpiRow:
    name: str
    label: str
    unit: str
    cells: list[str]


@dataclass(frozen=True)
class ComparisonRow:
    name: str
    label: str
    unit: str
    baseline: str
    scenario: str
    difference: str
    relative: str
    overlap: bool | None
    verdict: str
    # "clear" (CIs apart), "probable" (CIs overlap, difference interval excludes 0),
    # "none" (no clear difference) or "unknown" (a CI is missing); for styling.
    strength: str = "unknown"


@dataclass(frozen=True)
class ObservedRow:
    name: str
    label: str
    unit: str
    observed: str
    simulated: str
    low: str
    high: str
    inside: bool | None
    status: str


def scenario_rows(results: Sequence[SimulationResult]) -> list[ScenarioRow]:
    return [
        ScenarioRow(
            name=r.scenario,
            replications=len(r.replications),
            seed=r.seed,
            events=f"{r.events:,}",
            wall=f"{r.wall_seconds:.1f} s",
            hash_short=r.model_hash[:12],
            model_hash=r.model_hash,
        )
        for r in results
    ]


def kpi_names(results: Sequence[SimulationResult]) -> list[str]:
    """Every KPI in any result, in first-seen order (the baseline's order first)."""
    names: dict[str, None] = {}
    for r in results:
        names.update(dict.fromkeys(r.summary))
    return list(names)


def kpi_meta(results: Sequence[SimulationResult], name: str) -> KpiSummary | None:
    for r in results:
        if name in r.summary:
            return r.summary[name]
    return None


def kpi_rows(results: Sequence[SimulationResult]) -> list[KpiRow]:
    rows = []
    for name in kpi_names(results):
        meta = kpi_meta(results, name)
        assert meta is not None
        cells = [
            fmt_pm(r.summary[name].mean, r.summary[name].ci95) if name in r.summary else MISSING
            for r in results
        ]
        rows.append(KpiRow(name, meta.label or name, meta.unit, cells))
    return rows


def _compare(name: str, base: KpiSummary, other: KpiSummary) -> ComparisonRow:
    diff = other.mean - base.mean
    hb, ho = base.ci95, other.ci95
    d = decimals_for(base.mean)
    overlap: bool | None = None
    combined = math.nan
    if _finite(diff) and _finite(hb) and _finite(ho):
        overlap = abs(diff) <= hb + ho
        combined = math.sqrt(hb * hb + ho * ho)
        difference = f"{fmt_signed(diff, d)} ± {fmt(combined, d)}"
    else:
        difference = f"{fmt_signed(diff, d)} ± n/a" if _finite(diff) else MISSING
    relative = (
        f"{fmt_signed(100 * diff / base.mean, 1)}%" if _finite(diff) and base.mean != 0 else MISSING
    )
    direction = "higher" if diff > 0 else "lower"
    if overlap is None:
        verdict, strength = "cannot tell", "unknown"
    elif not overlap:
        verdict, strength = f"{direction} (CIs apart)", "clear"
    elif abs(diff) > combined:
        verdict, strength = f"probably {direction}", "probable"
    else:
        verdict, strength = "no clear difference", "none"
    return ComparisonRow(
        name=name,
        label=other.label or name,
        unit=other.unit,
        baseline=fmt_pm(base.mean, hb),
        scenario=fmt_pm(other.mean, ho),
        difference=difference,
        relative=relative,
        overlap=overlap,
        verdict=verdict,
        strength=strength,
    )


def comparison_rows(base: SimulationResult, other: SimulationResult) -> list[ComparisonRow]:
    """Each KPI both results share: scenario minus baseline, with the CI-overlap reading."""
    return [
        _compare(name, base.summary[name], other.summary[name])
        for name in kpi_names([base, other])
        if name in base.summary and name in other.summary
    ]


def _non_negative(result: SimulationResult, name: str) -> bool:
    values = [r.kpis.get(name, math.nan) for r in result.replications]
    return all(v >= 0 for v in values if math.isfinite(v))


def observed_rows(base: SimulationResult, observed: dict[str, float]) -> list[ObservedRow]:
    """Observed KPIs against the simulated per-replication range mean ± 1.96·sd.

    The lower end is floored at 0 when no replication value of the KPI is negative.
    """
    rows = []
    for name, value in observed.items():
        s = base.summary.get(name)
        if s is None:
            rows.append(
                ObservedRow(
                    name=name,
                    label=name,
                    unit="",
                    observed=fmt(value),
                    simulated=MISSING,
                    low=MISSING,
                    high=MISSING,
                    inside=None,
                    status="not simulated",
                )
            )
            continue
        d = decimals_for(s.mean)
        inside: bool | None = None
        low = high = MISSING
        if _finite(s.sd) and _finite(s.mean):
            lo, hi = s.mean - Z95 * s.sd, s.mean + Z95 * s.sd
            if lo < 0 and _non_negative(base, name):
                lo = 0.0  # times, counts and shares cannot fall below zero
            low, high = fmt(lo, d), fmt(hi, d)
            if _finite(value):
                inside = lo <= value <= hi
        if inside is None:
            status = "cannot tell (needs ≥ 2 replications and an observed value)"
        else:
            status = "inside the simulated range" if inside else "outside the simulated range"
        rows.append(
            ObservedRow(
                name=name,
                label=s.label or name,
                unit=s.unit,
                observed=fmt(value, d),
                simulated=fmt(s.mean, d),
                low=low,
                high=high,
                inside=inside,
                status=status,
            )
        )
    return rows
