"""Simulation under parameter uncertainty: an interval for each KPI's expected value.

Design (nested, documented in docs/validity.md): ``N`` replications are ``J`` parameter draws
× ``R`` replications per draw, ``R`` = 2 by default. What is wanted is the distribution of
g(θ), the model's expected KPI over its run window, over θ drawn from the calibration's
uncertainty (:func:`caretwin.calibrate.uncertainty.draw_parameters`); that distribution is
learnt from *draws*, so they get most of the budget. Two replications per draw are the fewest
that measure the Monte Carlo noise inside a draw, which must be removed from the spread of the
draw means (law of total variance)::

    Var(ȳ_j) = Var_θ(g(θ)) + E_θ[σ²(θ)] / R

so V_par = max(0, Var(ȳ_j) − mean within-draw variance / R), with Var(ȳ_j) taken at its 75 %
upper confidence bound (see :func:`_upper_bound`). The draw means are scaled about
their grand mean m by sqrt(V_par / Var(ȳ_j)) (their spread is then g's, not g's plus noise), and
a 90 % prediction interval [q5, q95] for one more draw from them (order statistics, see
:func:`_prediction_bounds`) is the parameter part of the interval: the true parameters are,
to the calibration's knowledge, one more such draw. The Monte Carlo
error of the whole estimate, se² = Var(ȳ_j) / J, is added in quadrature to each side::

    interval90 = [m − sqrt((m − q5)² + (z·se)²), m + sqrt((q95 − m)² + (z·se)²)], z = 1.645

With many draws it is the parameter interval. ``variance_share`` splits V_par + se² between the
two: the point estimate of the parameter variance is ``parameters``, the rest (se² and what the
upper bound adds) ``monte_carlo``. A large Monte Carlo share says more replications would narrow
the interval, a large parameter share says only more data would. Runaway replications
(:mod:`caretwin.sim.stability`) stay in every mean.

Reproducible: draw ``j`` uses ``SeedSequence(seed, spawn_key=(DRAW_KEY, j))``; replication ``i``
of draw ``j`` is replication ``j·R + i`` of the run's seed, as in any simulation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from caretwin.calibrate.uncertainty import draw_parameters, has_uncertainty
from caretwin.errors import SimulationError
from caretwin.model import TwinDefinition, apply_scenario
from caretwin.sim.compiled import CompiledModel, compile_definition
from caretwin.sim.executors import ExecutorKind, map_replications
from caretwin.sim.plugin_kpis import add_plugin_kpis, plugin_kpis
from caretwin.sim.result import ReplicationResult, SimulationResult, summarise
from caretwin.sim.runner import EngineChoice, RunFn, resolve_engine
from caretwin.validation.load import offered_load

__all__ = [
    "DRAW_KEY",
    "LOAD_DRAWS",
    "REPS_PER_DRAW",
    "KpiInterval",
    "LoadEstimate",
    "UncertainResult",
    "draw_seed",
    "interval_from_draws",
    "load_uncertainty",
    "simulate_uncertain",
]

DRAW_KEY = 2_000_003  # spawn-key tag of parameter draws: never a replication's (i,) key
LOAD_KEY = 2_000_029
REPS_PER_DRAW = 2
LOAD_DRAWS = 400
_Z90 = 1.6448536269514722
V_LEVEL = 0.75  # confidence of the upper bound on the draw means' variance


def draw_seed(seed: int, j: int, key: int = DRAW_KEY) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=seed, spawn_key=(key, j))


@dataclass(frozen=True)
class KpiInterval:
    interval90: tuple[float, float]
    parameters: float  # share of the interval's variance due to parameter uncertainty
    monte_carlo: float
    draw_means: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class LoadEstimate:
    rho: float  # at the calibrated (MLE) parameters
    rho_interval90: tuple[float, float]
    p_rho_above_1: float

    def to_json(self) -> dict[str, Any]:
        return {
            "rho": self.rho,
            "rho_interval90": list(self.rho_interval90),
            "p_rho_above_1": self.p_rho_above_1,
        }


@dataclass
class UncertainResult:
    simulation: SimulationResult
    draws: int
    reps_per_draw: int
    intervals: dict[str, KpiInterval]
    load: dict[str, LoadEstimate]

    @property
    def runaway_share(self) -> float:
        return self.simulation.runaway_share

    def parameters(self) -> dict[str, Any]:
        """What a manifest records to redo the draws."""
        return {
            "draws": self.draws,
            "reps_per_draw": self.reps_per_draw,
            "draw_seeds": {
                "entropy": self.simulation.seed,
                "spawn_keys": [[DRAW_KEY, j] for j in range(self.draws)],
            },
            "load_draws": {"count": LOAD_DRAWS, "spawn_key_tag": LOAD_KEY},
        }

    def to_json(self) -> dict[str, Any]:
        out = self.simulation.to_json()
        for name, k in out["kpis"].items():
            iv = self.intervals.get(name)
            if iv is not None:
                k["interval90"] = list(iv.interval90)
                k["variance_share"] = {"parameters": iv.parameters, "monte_carlo": iv.monte_carlo}
        out["load"] = {r: e.to_json() for r, e in self.load.items()}
        out["parameter_uncertainty"] = self.parameters()
        return out


def _upper_bound(between: float, j: int) -> float:
    """The one-sided :data:`V_LEVEL` upper confidence bound of the variance of the draw means
    (χ² with J−1 degrees of freedom). With tens of draws and a heavy-tailed KPI (waits near
    saturation) the Monte Carlo part dwarfs the parameter part, and the point estimate
    Var(ȳ) − within/R is often 0: the interval then leaves the parameter uncertainty out and
    misses. The bound keeps what the draws cannot rule out."""
    from scipy.special import chdtri

    return between * (j - 1) / float(chdtri(j - 1, V_LEVEL))


def _prediction_bounds(z: np.ndarray, m: float, v_par: float) -> tuple[float, float]:
    """A 90 % prediction interval for one more draw of g(θ) from the sorted shrunk draw
    means: order statistics k and J+1−k, k = ⌊0.05 (J+1)⌋, which contain a new exchangeable
    draw with probability (J+1−2k)/(J+1) ≥ 0.9 whatever g's distribution (plain 5 %/95 %
    sample quantiles are too narrow for tens of draws: with 20, about ±1.43 σ for ±1.645).
    Below 19 draws no pair of order statistics reaches 90 %: then the normal-theory
    interval m ± t(0.95, J−1) · sqrt(V_par (1 + 1/J))."""
    j = z.size
    k = math.floor(0.05 * (j + 1))
    if k >= 1:
        return float(z[k - 1]), float(z[j - k])
    from caretwin.sim.result import t_quantile

    half = t_quantile(0.95, j - 1) * math.sqrt(v_par * (1 + 1 / j))
    return m - half, m + half


def interval_from_draws(y: np.ndarray) -> KpiInterval:
    """``y``: J × R values (NaN where a replication had none). See the module docstring."""
    nan = (math.nan, math.nan)
    y = np.asarray(y, dtype=np.float64)
    counts = np.isfinite(y).sum(axis=1)
    keep = counts >= 1
    if keep.sum() < 2:
        return KpiInterval(nan, math.nan, math.nan)
    yk = y[keep]
    means = np.nanmean(yk, axis=1)
    r_eff = float(np.mean(counts[keep]))
    multi = counts[keep] >= 2
    within = float(np.mean(np.nanvar(yk[multi], axis=1, ddof=1))) if multi.any() else 0.0
    j = means.size
    m = float(means.mean())
    between = float(means.var(ddof=1))
    v_point = max(0.0, between - within / r_eff)
    v_par = max(0.0, _upper_bound(between, j) - within / r_eff)
    se2 = between / j
    shrink = math.sqrt(v_par / between) if between > 0 else 0.0
    q5, q95 = _prediction_bounds(np.sort(m + shrink * (means - m)), m, v_par)
    mc = (_Z90**2) * se2
    lo = m - math.sqrt((m - float(q5)) ** 2 + mc)
    hi = m + math.sqrt((float(q95) - m) ** 2 + mc)
    total = v_par + se2
    # what the bound adds to the point estimate is Monte Carlo: more replications remove it
    share = v_point / total if total > 0 else 0.0
    return KpiInterval((lo, hi), share, 1.0 - share if total > 0 else 0.0, means.tolist())


def load_uncertainty(
    defn: TwinDefinition, seed: int, scenario: str = "baseline", draws: int = LOAD_DRAWS
) -> dict[str, LoadEstimate]:
    """rho per resource at the MLE, with its 90 % interval and P(rho > 1) over ``draws``
    parameter draws (none when ``defn`` records no uncertainty: the interval is the point)."""
    point = offered_load(apply_scenario(defn, scenario))
    if draws < 2 or not has_uncertainty(defn):
        return {r: LoadEstimate(v.rho, (v.rho, v.rho), float(v.rho > 1)) for r, v in point.items()}
    rhos: dict[str, list[float]] = {r: [] for r in point}
    for j in range(draws):
        drawn = draw_parameters(defn, np.random.default_rng(draw_seed(seed, j, LOAD_KEY)))
        for r, v in offered_load(apply_scenario(drawn, scenario)).items():
            rhos[r].append(v.rho)
    out = {}
    for r, v in point.items():
        arr = np.asarray(rhos[r])
        lo, hi = np.quantile(arr, [0.05, 0.95])
        out[r] = LoadEstimate(v.rho, (float(lo), float(hi)), float(np.mean(arr > 1)))
    return out


def _worker(args: tuple[RunFn, CompiledModel, int, int]) -> ReplicationResult:
    from caretwin.sim.plugin import replication_seed

    run, model, seed, rep = args
    return run(model, replication_seed(seed, rep))


def simulate_uncertain(
    defn: TwinDefinition,
    *,
    replications: int | None = None,
    reps_per_draw: int = REPS_PER_DRAW,
    seed: int | None = None,
    workers: int = 1,
    scenario: str = "baseline",
    engine: EngineChoice = "auto",
    executor: ExecutorKind = "local",
    scheduler: str | None = None,
    progress: Any = None,
    load_draws: int = LOAD_DRAWS,
) -> UncertainResult:
    """Simulate ``scenario`` of the calibrated ``defn`` over parameter draws (module docstring).

    Parameters are drawn from the base definition, then the scenario is applied, so every
    scenario of a run sees the same parameter sets."""
    if not has_uncertainty(defn):
        raise SimulationError(
            "the model records no parameter uncertainty: calibrate it first (its provenance"
            " needs the uncertainty of every fitted parameter)"
        )
    reps = replications if replications is not None else defn.run.replications
    if reps_per_draw < 2:
        raise SimulationError("parameter uncertainty needs at least 2 replications per draw")
    if reps < 2 * reps_per_draw:
        raise SimulationError(
            f"parameter uncertainty needs at least {2 * reps_per_draw} replications"
            f" (2 parameter draws of {reps_per_draw})"
        )
    root = seed if seed is not None else defn.run.seed
    n_draws = reps // reps_per_draw
    started = time.perf_counter()
    models: list[CompiledModel] = []
    for j in range(n_draws):
        drawn = draw_parameters(defn, np.random.default_rng(draw_seed(root, j)))
        models.append(compile_definition(apply_scenario(drawn, scenario)))
    chosen = resolve_engine(models[0], engine)
    from caretwin.plugins import registry

    spec = registry.engines()[chosen].spec
    if spec.prepare and ((executor == "local" and workers > 1) or executor == "dask"):
        spec.prepare(models[0])
    jobs = [
        (spec.run, models[j], root, j * reps_per_draw + i)
        for j in range(n_draws)
        for i in range(reps_per_draw)
    ]
    results: list[ReplicationResult] = map_replications(
        _worker,
        jobs,
        workers=max(1, min(workers, len(jobs))),
        executor=executor,
        scheduler=scheduler,
        progress=progress,
    )
    scenario_defn = apply_scenario(defn, scenario)
    extra = plugin_kpis(scenario_defn)
    for j in range(n_draws):
        add_plugin_kpis(extra, models[j], results[j * reps_per_draw : (j + 1) * reps_per_draw])
    labels = {k.name: (k.label, k.unit) for k in models[0].kpis}
    labels.update({k.name: (k.label, k.unit) for k in extra})
    sim = SimulationResult(
        model_name=defn.name,
        model_hash=defn.content_hash(),
        scenario=scenario,
        seed=root,
        replications=results,
        summary=summarise(results, labels),
        wall_seconds=0.0,
        workers=workers,
        engine=chosen,
        executor=executor,
    )
    intervals = {}
    for name in labels:
        y = np.asarray([r.kpis.get(name, math.nan) for r in results], dtype=np.float64)
        intervals[name] = interval_from_draws(y.reshape(n_draws, reps_per_draw))
    load = load_uncertainty(defn, root, scenario, draws=load_draws)
    sim.wall_seconds = time.perf_counter() - started
    return UncertainResult(sim, n_draws, reps_per_draw, intervals, load)
