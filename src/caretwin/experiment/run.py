"""Running an experiment: every variant under the same seed, then the advisors and the search.

Simulations go through :func:`caretwin.sim.runner.simulate` only. Results are cached by the
variant's model content hash, so a sweep point equal to the baseline, or a search probe already
on the sweep grid, is simulated once; and because replication ``i`` is the same whatever the
number of replications, a longer cached run also answers a shorter request (its first ``n``
replications).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

from caretwin.experiment.checks import check_against_model
from caretwin.experiment.compare import Comparison, compare_values
from caretwin.experiment.replications import ReplicationAdvice, advise_replications
from caretwin.experiment.results import ExperimentResult, VariantResult
from caretwin.experiment.search import SearchResult, search_smallest
from caretwin.experiment.spec import ExperimentSpec
from caretwin.experiment.variants import (
    Value,
    apply_overrides,
    axis_values,
    base_definition,
    expand_sweeps,
    point_name,
    variants_of,
)
from caretwin.experiment.warmup import WarmupAdvice, welch
from caretwin.model.definition import TwinDefinition
from caretwin.sim.result import SimulationResult, summarise
from caretwin.sim.runner import simulate

__all__ = ["Progress", "run_experiment_spec"]

Progress = Callable[[str, int], None]  # (stage, replications just finished)


class _Runs:
    """Simulations keyed by model content hash; a longer run answers shorter requests."""

    def __init__(self, seed: int, workers: int, progress: Progress | None) -> None:
        self.seed, self.workers, self.progress = seed, workers, progress
        self._cache: dict[str, SimulationResult] = {}
        self.simulated_replications = 0

    def run(self, defn: TwinDefinition, reps: int, label: str, stage: str) -> SimulationResult:
        key = defn.content_hash()
        hit = self._cache.get(key)
        if hit is None or len(hit.replications) < reps:
            notify = self.progress
            hit = simulate(
                defn,
                replications=reps,
                seed=self.seed,
                workers=self.workers,
                scenario_label=label,
                progress=(lambda n: notify(stage, n)) if notify else None,
            )
            self.simulated_replications += reps
            self._cache[key] = hit
        return _first(hit, reps, label)


def _first(result: SimulationResult, reps: int, label: str) -> SimulationResult:
    """The result restricted to replications 0…reps−1 (identical to running only those)."""
    if len(result.replications) == reps and result.scenario == label:
        return result
    reps_kept = result.replications[:reps]
    labels = {k: (s.label, s.unit) for k, s in result.summary.items()}
    return dataclasses.replace(
        result,
        scenario=label,
        replications=reps_kept,
        summary=summarise(reps_kept, labels),
        wall_seconds=result.wall_seconds * reps / len(result.replications),
    )


def _values(result: SimulationResult, kpi: str) -> list[float]:
    return [r.kpis.get(kpi, float("nan")) for r in result.replications]


def run_experiment_spec(
    spec: ExperimentSpec,
    model: TwinDefinition,
    *,
    workers: int = 1,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run ``spec`` on ``model`` (the loaded file): variants, comparisons, advisors, search."""
    base = base_definition(spec, model)
    check_against_model(spec, base)
    reps = spec.replications if spec.replications is not None else base.run.replications
    seed = spec.seed if spec.seed is not None else base.run.seed
    kpis = list(spec.kpis) if spec.kpis else list(base.kpis)
    runs = _Runs(seed, workers, progress)

    variants = variants_of(spec, expand_sweeps(spec))
    results: list[VariantResult] = []
    for v in variants:
        defn = apply_overrides(base, v.overrides, scenario=v.scenario)
        results.append(VariantResult(v, defn.content_hash(), runs.run(defn, reps, v.name, v.name)))
    baseline = results[0].result
    for vr in results:
        vr.comparisons = _compare(baseline, vr.result, kpis)

    rep_advice = _replication_advice(spec, base, reps, runs)
    warm_advice = _warmup_advice(spec, base, reps, runs)
    searches = _searches(spec, base, reps, runs)
    return ExperimentResult(
        spec=spec,
        model=base,
        replications=reps,
        seed=seed,
        kpis=kpis,
        variants=results,
        sweep_axes=[(a.path, axis_values(a, f"sweeps[{i}]")) for i, a in enumerate(spec.sweeps)],
        replication_advice=rep_advice,
        warmup_advice=warm_advice,
        searches=searches,
        simulated_replications=runs.simulated_replications,
    )


def _compare(
    base: SimulationResult, other: SimulationResult, kpis: list[str]
) -> dict[str, Comparison]:
    return {k: compare_values(k, _values(base, k), _values(other, k)) for k in kpis}


def _replication_advice(
    spec: ExperimentSpec, base: TwinDefinition, reps: int, runs: _Runs
) -> ReplicationAdvice | None:
    adv = spec.advisors.replications
    if adv is None:
        return None

    def run(n: int) -> list[float]:
        return _values(runs.run(base, n, "baseline", "replication advisor"), adv.kpi)

    return advise_replications(
        adv.kpi,
        run,
        target=adv.half_width,
        relative=adv.relative,
        k_limit=adv.k_limit,
        min_n=adv.min_replications,
        max_n=adv.max_replications,
        start=reps,
    )


def _warmup_advice(
    spec: ExperimentSpec, base: TwinDefinition, reps: int, runs: _Runs
) -> WarmupAdvice | None:
    adv = spec.advisors.warmup
    if adv is None:
        return None
    days = adv.run_days or (base.run.warmup_days + base.run.run_days)
    cold = base.model_copy(
        update={
            "run": base.run.model_copy(
                update={"warmup_days": 0.0, "run_days": days, "cooldown_days": 0.0}
            )
        }
    )
    n = adv.replications or reps
    result = runs.run(cold, n, "baseline from empty", "warm-up advisor")
    series = [r.occupancy_daily[adv.resource] for r in result.replications]
    return welch(
        adv.resource,
        series,
        window=adv.window,
        tolerance=adv.tolerance,
        current_warmup_days=base.run.warmup_days,
    )


def _searches(
    spec: ExperimentSpec, base: TwinDefinition, reps: int, runs: _Runs
) -> list[SearchResult]:
    target = spec.target
    if target is None:
        return []
    if target.has_range():
        candidates = axis_values(target, "target")
    else:
        axis = next(a for a in spec.sweeps if a.path == target.vary)
        candidates = axis_values(axis, "target.vary")
    others = [(a.path, axis_values(a, "sweeps")) for a in spec.sweeps if a.path != target.vary]
    combos: list[dict[str, Value]] = [
        dict(zip([p for p, _ in others], combo, strict=True))
        for combo in itertools.product(*[vals for _, vals in others])
    ]
    out: list[SearchResult] = []
    for fixed in combos:

        def evaluate(value: Value, fixed: dict[str, Value] = fixed) -> tuple[float, float, int]:
            overrides = {**fixed, target.vary: value}
            defn = apply_overrides(base, overrides, where="target")
            s = runs.run(defn, reps, point_name(overrides), "search").summary[target.kpi]
            return s.mean, s.ci95, s.n

        out.append(
            search_smallest(
                candidates,
                evaluate,
                kpi=target.kpi,
                direction="below" if target.below is not None else "above",
                goal=target.goal,
                vary=target.vary,
                fixed=fixed,
                method=target.method,
            )
        )
    return out
