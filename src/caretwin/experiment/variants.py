"""Variants of an experiment: the baseline, named scenarios and the points of a sweep.

Sweep points are applied with the same dotted-path mechanism as named scenarios (a temporary
scenario holding the point's overrides), so a path means the same in both places and every
variant is fully validated as a twin definition before anything runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from caretwin.errors import DefinitionError
from caretwin.experiment.spec import ExperimentSpec, _Range
from caretwin.model import apply_scenario, definition_from_data
from caretwin.model.definition import TwinDefinition

__all__ = [
    "MAX_AXIS_VALUES",
    "Variant",
    "apply_overrides",
    "axis_values",
    "base_definition",
    "expand_sweeps",
    "format_value",
    "point_name",
]

MAX_AXIS_VALUES = 1000
_TEMP = "__experiment_point__"

Value = int | float


@dataclass(frozen=True)
class Variant:
    """One configuration to simulate; ``overrides`` is empty for the baseline."""

    name: str
    kind: str  # "baseline", "scenario" or "sweep"
    overrides: dict[str, Value] = field(default_factory=dict)
    scenario: str | None = None


def _clean(x: float) -> Value:
    """Round away float noise of ``start + i * step`` and keep integers integral."""
    r = round(x, 10)
    return int(r) if float(r).is_integer() else r


def axis_values(rng: _Range, where: str) -> list[Value]:
    """The values of a sweep axis or target range, in the order given (ranges ascending)."""
    if rng.values is not None:
        return [_clean(v) if isinstance(v, float) else v for v in rng.values]
    assert rng.start is not None and rng.stop is not None and rng.step is not None
    count = math.floor((rng.stop - rng.start) / rng.step + 1e-9) + 1
    if count > MAX_AXIS_VALUES:
        raise DefinitionError(
            "the experiment's ranges are too large",
            problems=[(where, f"{count} values; at most {MAX_AXIS_VALUES}")],
        )
    ints = all(isinstance(v, int) for v in (rng.start, rng.stop, rng.step))
    values = [rng.start + i * rng.step for i in range(count)]
    return [int(v) for v in values] if ints else [_clean(v) for v in values]


def format_value(v: Value) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def point_name(overrides: Mapping[str, Value]) -> str:
    """A readable, unique variant name: ``ward_bed.capacity=170 ed.multiplier=1.05``."""
    parts = []
    for path, v in overrides.items():
        short = ".".join(path.split(".")[-2:])
        parts.append(f"{short}={format_value(v)}")
    return " ".join(parts)


def expand_sweeps(spec: ExperimentSpec) -> list[dict[str, Value]]:
    """The full factorial of the sweep axes, the first axis varying slowest."""
    if not spec.sweeps:
        return []
    axes = [axis_values(a, f"sweeps[{i}]") for i, a in enumerate(spec.sweeps)]
    total = math.prod(len(a) for a in axes)
    if total > spec.max_variants:
        raise DefinitionError(
            "the sweep has too many points",
            problems=[("sweeps", f"{total} points; max_variants is {spec.max_variants}")],
        )
    paths = [a.path for a in spec.sweeps]
    return [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*axes)]


def base_definition(spec: ExperimentSpec, defn: TwinDefinition) -> TwinDefinition:
    """The model with the experiment's run-window overrides applied."""
    if spec.run is None:
        return defn
    update = spec.run.model_dump(exclude_none=True)
    if not update:
        return defn
    return defn.model_copy(update={"run": defn.run.model_copy(update=update)})


def _relabel(exc: DefinitionError, where: str, what: str) -> DefinitionError:
    prefix = f"scenarios.{_TEMP}.set."
    # a problem outside the overridden paths already carries its own path in the message
    problems = [
        (where, msg if path == f"scenarios.{_TEMP}" else f"{path.removeprefix(prefix)}: {msg}")
        for path, msg in exc.problems
    ] or [(where, exc.message)]
    return DefinitionError(f"the experiment {what}", problems=problems)


def apply_overrides(
    defn: TwinDefinition,
    overrides: Mapping[str, Value],
    *,
    scenario: str | None = None,
    where: str = "sweeps",
) -> TwinDefinition:
    """``defn`` (after ``scenario``, if any) with dotted-path ``overrides`` applied."""
    base = apply_scenario(defn, scenario) if scenario else defn
    if not overrides:
        return base
    data: dict[str, Any] = base.to_data()
    scenarios = dict(data.get("scenarios", {}))
    scenarios[_TEMP] = {"set": dict(overrides)}
    data["scenarios"] = scenarios
    try:
        staged = definition_from_data(data, source="experiment point")
        applied = apply_scenario(staged, _TEMP)
    except DefinitionError as exc:
        raise _relabel(exc, where, f"sets an invalid value ({point_name(overrides)})") from None
    out = applied.to_data()
    out["scenarios"].pop(_TEMP, None)
    if not out["scenarios"]:
        out.pop("scenarios")
    return definition_from_data(out, source="experiment point")


def variants_of(spec: ExperimentSpec, points: Sequence[Mapping[str, Value]]) -> list[Variant]:
    """Baseline, then the named scenarios, then the sweep points."""
    out = [Variant("baseline", "baseline")]
    out += [Variant(s, "scenario", scenario=s) for s in spec.scenarios if s != "baseline"]
    out += [Variant(point_name(p), "sweep", dict(p)) for p in points]
    return out
