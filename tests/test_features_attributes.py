"""Patient attributes drawn at arrival, used by durations and routes; planned maintenance."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import yaml
from tests.test_features_helpers import batch, fixed, model, trace

from caretwin.errors import DefinitionError
from caretwin.model import definition_from_data
from caretwin.sim.trace import EventKind

TRIAGE = """
name: triage
resources:
  bay: {capacity: 50}
arrivals:
  ed:
    type: poisson
    pathway: ed
    rates: [4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0,
            4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    attributes:
      acuity: {1: 0.3, 2: 0.7}
pathways:
  ed:
    steps:
      - id: assess
        acquire: [bay]
        duration:
          {by: acuity, cases: {1: {dist: fixed, value: 1}}, default: {dist: fixed, value: 3}}
        next: {by: acuity, cases: {1: [{to: resus, p: 1}], 2: [{to: exit, p: 1}]}}
      - id: resus
        duration: {dist: fixed, value: 0.5}
run: {run_days: 20, replications: 2, seed: 4}
"""


def test_attribute_drives_duration_and_route() -> None:
    d = definition_from_data(yaml.safe_load(TRIAGE))
    tr = trace(d, horizon_h=24 * 20)
    assess, resus = tr.step_names.index("ed.assess"), tr.step_names.index("ed.resus")
    start = {
        e: t
        for e, t, k, r in zip(tr.entity, tr.time, tr.kind, tr.ref, strict=True)
        if k == EventKind.START and r == assess
    }
    end = {
        e: t
        for e, t, k, r in zip(tr.entity, tr.time, tr.kind, tr.ref, strict=True)
        if k == EventKind.END and r == assess
    }
    to_resus = set(tr.entity[(tr.kind == EventKind.REQUEST) & (tr.ref == resus)].tolist())
    durations = {e: end[e] - start[e] for e in end}
    # acuity 1 <=> 1 h assessment <=> resuscitation
    assert {e for e, h in durations.items() if h == pytest.approx(1)} == to_resus & set(end)
    assert all(h == pytest.approx(1) or h == pytest.approx(3) for h in durations.values())
    # the share of acuity 1 within its binomial 99.9% interval
    n, k = len(durations), len(to_resus & set(end))
    half = 3.29 * math.sqrt(0.3 * 0.7 / n)
    assert abs(k / n - 0.3) <= half, (k, n)


def _with(step: dict[str, Any], attrs: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TRIAGE)
    data["pathways"]["ed"]["steps"][0].update(step)
    if attrs is not None:
        data["arrivals"]["ed"]["attributes"] = attrs
    return data


@pytest.mark.parametrize(
    ("step", "attrs", "problem"),
    [
        (
            {},
            {"acuity": {1: 0.3, 2: 0.6}},
            ("arrivals.ed.attributes.acuity", "probabilities sum to 0.9, not 1"),
        ),
        (
            {
                "duration": {
                    "by": "acuity",
                    "cases": {"1": fixed(1), "7": fixed(2)},
                    "default": fixed(1),
                }
            },
            None,
            ("pathways.ed.steps[assess].duration.cases.7", "'acuity' never takes the value '7'"),
        ),
        (
            {"duration": {"by": "acuity", "cases": {"1": fixed(1)}}},
            None,
            (
                "pathways.ed.steps[assess].duration.default",
                "needed: patients of ed can match no case",
            ),
        ),
        (
            {"duration": {"by": "age", "cases": {"old": fixed(1)}}},
            None,
            (
                "pathways.ed.steps[assess].duration.by",
                "no arrival stream of pathway 'ed' draws 'age'",
            ),
        ),
        (
            {
                "next": {
                    "by": "acuity",
                    "cases": {"1": [{"to": "resus", "p": 0.5}]},
                    "default": [{"to": "nowhere", "p": 1}],
                }
            },
            None,
            None,
        ),
    ],
)
def test_attribute_problems_are_named_by_field_path(
    step: dict[str, Any], attrs: dict[str, Any] | None, problem: tuple[str, str] | None
) -> None:
    with pytest.raises(DefinitionError) as err:
        definition_from_data(_with(step, attrs))
    if problem is not None:
        assert problem in err.value.problems
    else:
        assert sorted(err.value.problems) == [
            ("pathways.ed.steps[assess].next.cases.1", "routing probabilities sum to 0.5, not 1"),
            ("pathways.ed.steps[assess].next.default[0].to", "unknown step 'nowhere'"),
        ]


def test_planned_maintenance_waits_for_an_idle_unit_and_is_marked() -> None:
    d = model(
        {
            "ct": {
                "capacity": 1,
                "maintenance": [{"every_days": 7, "duration_h": 4, "start_hour": 2}],
            }
        },
        {"a": batch("p", 1, 1), "b": batch("p", 3.5, 1)},
        {"p": {"steps": [{"id": "scan", "acquire": ["ct"], "duration": fixed(2)}]}},
    )
    tr = trace(d, horizon_h=24.0)
    dev = tr.entity == -1
    rows = [
        (k, t, a)
        for k, t, a in zip(
            tr.kind[dev].tolist(), tr.time[dev].tolist(), tr.aux[dev].tolist(), strict=True
        )
    ]
    # busy 1-3, so the 2:00 window takes the scanner at 3:00, for 4 h; no FAIL event
    assert rows == [(EventKind.DOWN, 3.0, -2), (EventKind.UP, 7.0, -2)]
    starts = np.array(tr.time[tr.kind == EventKind.START])
    assert starts.tolist() == [1.0, 7.0]  # the 3:30 patient waited for the maintenance
