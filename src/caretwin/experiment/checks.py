"""Checks of an experiment against its model, all reported at once by field path."""

from __future__ import annotations

from caretwin.errors import DefinitionError, ScenarioNotFound
from caretwin.experiment.spec import ExperimentSpec
from caretwin.experiment.variants import apply_overrides, axis_values
from caretwin.model import scenario_names
from caretwin.model.definition import TwinDefinition

__all__ = ["check_against_model"]


def check_against_model(spec: ExperimentSpec, defn: TwinDefinition) -> None:
    """Raise one :class:`DefinitionError` naming every reference the model cannot satisfy."""
    problems: list[tuple[str, str]] = []
    known_kpis = ", ".join(defn.kpis) or "none"

    def kpi(name: str, where: str) -> None:
        if name not in defn.kpis:
            problems.append((where, f"the model has no KPI '{name}' (known: {known_kpis})"))

    scenarios = scenario_names(defn)
    for i, s in enumerate(spec.scenarios):
        if s not in scenarios:
            problems.append(
                (f"scenarios[{i}]", f"no scenario '{s}' (known: {', '.join(scenarios)})")
            )
    for i, k in enumerate(spec.kpis or []):
        kpi(k, f"kpis[{i}]")
    for i, axis in enumerate(spec.sweeps):
        try:
            apply_overrides(
                defn, {axis.path: axis_values(axis, f"sweeps[{i}]")[0]}, where=f"sweeps[{i}]"
            )
        except DefinitionError as exc:
            problems += exc.problems
    if spec.target is not None:
        t = spec.target
        kpi(t.kpi, "target.kpi")
        swept = [a.path for a in spec.sweeps]
        if not t.has_range() and t.vary not in swept:
            problems.append(
                (
                    "target.vary",
                    f"'{t.vary}' is not a sweep path; sweep it or give the target "
                    "'values' or 'from'/'to'/'step'",
                )
            )
        elif t.has_range() and t.vary not in swept:
            try:
                apply_overrides(defn, {t.vary: axis_values(t, "target")[0]}, where="target.vary")
            except DefinitionError as exc:
                problems += exc.problems
    rep = spec.advisors.replications
    if rep is not None:
        kpi(rep.kpi, "advisors.replications.kpi")
        if rep.max_replications < rep.min_replications + rep.k_limit:
            problems.append(
                (
                    "advisors.replications.max_replications",
                    "must allow min_replications + k_limit replications",
                )
            )
    warm = spec.advisors.warmup
    if warm is not None and warm.resource not in defn.resources:
        problems.append(
            (
                "advisors.warmup.resource",
                f"the model has no resource '{warm.resource}' (known: {', '.join(defn.resources)})",
            )
        )
    if problems:
        cls = (
            ScenarioNotFound
            if all(p.startswith("scenarios[") for p, _ in problems)
            else DefinitionError
        )
        raise cls("the experiment does not fit the model", problems=problems)
