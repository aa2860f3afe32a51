"""Experiment files, sweep expansion, and the pure statistics of comparisons, advisors, search.

No simulation here: every check is exact or against a closed form on seeded synthetic data.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import stats

from caretwin.errors import DefinitionError, ScenarioNotFound
from caretwin.experiment import (
    ci_path,
    compare_values,
    expand_sweeps,
    look_ahead,
    moving_average,
    recommend,
    search_smallest,
    spec_from_data,
    truncation_point,
)
from caretwin.experiment.checks import check_against_model
from caretwin.experiment.variants import apply_overrides, point_name
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition


def _spec(**extra: Any) -> dict[str, Any]:
    return {"model": REFERENCE_HOSPITAL, **extra}


def _problems(exc: pytest.ExceptionInfo[DefinitionError]) -> dict[str, str]:
    return dict(exc.value.problems)


def test_sweep_expansion_is_full_factorial_first_axis_slowest() -> None:
    spec = spec_from_data(
        _spec(
            sweeps=[
                {"path": "resources.ward_bed.capacity", "from": 150, "to": 190, "step": 20},
                {"path": "arrivals.ed.multiplier", "from": 1.0, "to": 1.1, "step": 0.05},
            ]
        )
    )
    points = expand_sweeps(spec)
    assert len(points) == 9
    assert [p["resources.ward_bed.capacity"] for p in points[:4]] == [150, 150, 150, 170]
    # float noise of 1.0 + 2 * 0.05 is rounded away; integral values stay ints
    assert [p["arrivals.ed.multiplier"] for p in points[:3]] == [1, 1.05, 1.1]
    assert isinstance(points[0]["resources.ward_bed.capacity"], int)
    assert point_name(points[1]) == "ward_bed.capacity=150 ed.multiplier=1.05"


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ({"sweeps": [{"path": "a.b", "values": [1], "from": 1}]}, "sweeps[0]", "either"),
        ({"sweeps": [{"path": "a.b", "from": 1, "to": 3, "step": 0}]}, "sweeps[0].step", "greater"),
        ({"sweeps": [{"path": "a.b", "from": 1, "to": 3}]}, "sweeps[0]", "all of"),
        ({"sweeps": [{"path": "a.b", "from": 5, "to": 3, "step": 1}]}, "sweeps[0]", "smaller"),
        ({"sweeps": [{"path": "a.b"}]}, "sweeps[0]", "needs"),
        ({"target": {"kpi": "k", "vary": "a.b", "below": 1, "above": 2}}, "target", "exactly"),
        ({"advisors": {"warmup": {"resource": "x", "window": 0}}}, "advisors.warmup.window", ""),
        ({"replications": 1}, "replications", "greater"),
        ({"bogus": 1}, "bogus", "not permitted"),
    ],
)
def test_invalid_experiments_name_the_field(data: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(DefinitionError) as exc:
        spec_from_data(_spec(**data))
    problems = _problems(exc)
    assert path in problems, problems
    assert fragment in problems[path]


def test_sweep_too_large_is_refused() -> None:
    spec = spec_from_data(
        _spec(
            max_variants=10,
            sweeps=[
                {"path": "resources.ward_bed.capacity", "from": 100, "to": 200, "step": 10},
                {"path": "arrivals.ed.multiplier", "values": [1.0, 1.1]},
            ],
        )
    )
    with pytest.raises(DefinitionError) as exc:
        expand_sweeps(spec)
    assert "22 points" in _problems(exc)["sweeps"]


def test_experiment_checked_against_the_model_all_at_once() -> None:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    spec = spec_from_data(
        _spec(
            kpis=["ed_los_mean_h", "no_such_kpi"],
            sweeps=[{"path": "resources.no_bed.capacity", "values": [1]}],
            target={"kpi": "ed_los_mean_h", "below": 4, "vary": "resources.ct.capacity"},
            advisors={"warmup": {"resource": "no_bed"}},
        )
    )
    with pytest.raises(DefinitionError) as exc:
        check_against_model(spec, defn)
    problems = _problems(exc)
    assert set(problems) == {"kpis[1]", "sweeps[0]", "target.vary", "advisors.warmup.resource"}
    assert "no item" in problems["sweeps[0]"] or "unknown field" in problems["sweeps[0]"]
    with pytest.raises(ScenarioNotFound) as missing:
        check_against_model(spec_from_data(_spec(scenarios=["ward_plus10", "nope"])), defn)
    assert "scenarios[1]" in _problems(missing)


def test_sweep_value_that_breaks_the_model_is_reported() -> None:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    with pytest.raises(DefinitionError) as exc:
        apply_overrides(defn, {"resources.ward_bed.capacity": -1}, where="sweeps[0]")
    assert "resources.ward_bed.capacity" in _problems(exc)["sweeps[0]"]
    ok = apply_overrides(defn, {"resources.ward_bed.capacity": 170})
    assert ok.resources["ward_bed"].capacity == 170 and "ward_plus10" in ok.scenarios


def test_paired_difference_equals_difference_of_means() -> None:
    rng = np.random.default_rng(np.random.SeedSequence(11))
    shared = rng.normal(10, 3, 30)
    a, b = shared + rng.normal(0, 0.1, 30), shared + 0.5 + rng.normal(0, 0.1, 30)
    c = compare_values("k", list(a), list(b))
    assert c.difference == pytest.approx(b.mean() - a.mean(), abs=1e-12)
    # shared noise cancels in the pairs: sd of differences 0.1·√2 against 3·√2 unpaired
    assert c.paired_ci95 < c.unpaired_ci95 / 10
    assert c.variance_reduction > 0.99
    same = compare_values("k", list(a), list(a))
    assert same.difference == 0 and same.paired_ci95 == 0


def test_replication_rule_matches_its_definition_and_the_closed_form() -> None:
    """N(100, 10²) data, relative target 2%: the rule's n is near (t·σ/(0.02·μ))² ≈ 98."""
    rng = np.random.default_rng(np.random.SeedSequence(2010))
    values = rng.normal(100, 10, 400)
    path = ci_path(values)
    n = recommend(path, 0.02, relative=True, k_limit=5, min_n=3)
    assert n is not None
    ok = {p.n: p.relative <= 0.02 for p in path}
    assert all(ok[m] for m in range(n, n + look_ahead(5, n) + 1))
    assert not any(all(ok[m] for m in range(k, k + look_ahead(5, k) + 1)) for k in range(3, n))
    n_true = 98  # fixed point of n = (t_{n-1} · 10 / 2)²
    assert (stats.t.ppf(0.975, n_true - 1) * 10 / 2) ** 2 == pytest.approx(n_true, abs=1)
    # s² of n draws has relative sd √(2/(n−1)) ≈ 0.14; n scales with s²: allow 3 sd
    assert abs(n - n_true) <= 3 * 0.14 * n_true
    assert look_ahead(5, 100) == 5 and look_ahead(5, 300) == 15
    assert recommend(path[:20], 0.02, relative=True, k_limit=5, min_n=3) is None


def test_welch_moving_average_and_truncation() -> None:
    y = np.arange(10.0)
    ma = moving_average(y, 2)
    assert list(ma) == pytest.approx([0, 1, 2, 3, 4, 5, 6, 7])  # linear: centred means
    assert moving_average(np.array([1.0, 5.0, 0.0, 2.0]), 1)[1] == pytest.approx(2.0)
    tau, level, tol = 5.0, 100.0, 0.02
    t = np.arange(200.0)
    first, found = truncation_point(moving_average(level * (1 - np.exp(-t / tau)), 3), tol)
    assert found == pytest.approx(level, rel=1e-3)
    assert first is not None
    assert abs(first - tau * math.log(1 / tol)) <= 3 + 1  # window shifts it by at most w
    none, _ = truncation_point(moving_average(t, 3), tol)  # never settles
    assert none is None


def _evaluator(fn: Any, calls: list[float]) -> Any:
    def evaluate(v: float) -> tuple[float, float, int]:
        calls.append(v)
        return fn(v), 0.01, 10

    return evaluate


def test_bisection_finds_the_threshold_in_log_steps() -> None:
    calls: list[float] = []
    res = search_smallest(
        list(range(1, 101)),
        _evaluator(lambda v: 100 / v, calls),
        kpi="k",
        direction="below",
        goal=2.5,
        vary="x",
    )
    assert res.chosen == 41 and res.previous == 40  # 100/40 = 2.5 is not below 2.5
    assert len(calls) <= math.ceil(math.log2(100)) + 2
    assert res.confident and not res.probe(40).met
    scan = search_smallest(
        list(range(1, 101)), _evaluator(lambda v: 100 / v, []), kpi="k", direction="below",
        goal=2.5, vary="x", method="scan",
    )  # fmt: skip
    assert scan.chosen == 41 and len(scan.probes) == 100
    up = search_smallest(
        [1, 2, 3, 4], _evaluator(lambda v: v, []), kpi="k", direction="above", goal=2.5, vary="x"
    )
    assert up.chosen == 3


def test_search_reports_unreachable_goals_and_non_monotone_kpis() -> None:
    never = search_smallest(
        [1, 2, 3], _evaluator(lambda v: 10.0, []), kpi="k", direction="below", goal=1, vary="x"
    )
    assert never.chosen is None and "not met" in never.notes[0]
    # probes 1, 9, 5, 3, 4: the KPI rises from 5 to 9 beyond the noise, so bisection's
    # monotone assumption is broken and every value below its answer (4) is evaluated
    wiggle = {1: 5.0, 2: 0.5, 3: 5.0, 4: 0.5, 5: 0.2, 6: 0.5, 7: 0.5, 8: 0.5, 9: 0.9}
    res = search_smallest(
        list(wiggle), _evaluator(wiggle.__getitem__, []), kpi="k", direction="below", goal=1,
        vary="x",
    )  # fmt: skip
    assert res.chosen == 2 and res.method == "bisect+scan"


def test_the_documented_experiment_is_valid_for_rh1() -> None:
    text = (Path(__file__).parents[1] / "docs" / "experiments.md").read_text(encoding="utf-8")
    block = text.split("```yaml experiment\n", 1)[1].split("```", 1)[0]
    spec = spec_from_data(yaml.safe_load(block))
    check_against_model(spec, load_definition(example_path(REFERENCE_HOSPITAL)))
    assert len(expand_sweeps(spec)) == 15
