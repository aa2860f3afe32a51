"""The twin definition format: RH1 as specified, scenarios, and errors naming field paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from caretwin.errors import DefinitionError, ScenarioNotFound
from caretwin.model import (
    REFERENCE_HOSPITAL,
    LogNormal,
    apply_scenario,
    definition_from_data,
    dump_definition,
    example_names,
    example_text,
    parse_definition,
    scenario_names,
)


@pytest.fixture()
def rh1_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(example_text(REFERENCE_HOSPITAL))
    return data


def test_examples_list_rh1() -> None:
    assert REFERENCE_HOSPITAL in example_names()


def test_rh1_matches_the_reference_specification(rh1_data: dict[str, Any]) -> None:
    d = definition_from_data(rh1_data)
    caps = {k: r.capacity for k, r in d.resources.items()}
    assert caps == {"ed_space": 28, "ct": 2, "icu_bed": 16, "ward_bed": 160, "surgical_bed": 28}
    ed = d.arrivals["ed"]
    assert ed.type == "poisson"
    assert sum(ed.rates) == pytest.approx(147.0)
    assert ed.rates[0:6] == [3.0] * 6 and ed.rates[12:18] == [8.5] * 6
    el = d.arrivals["elective"]
    assert el.type == "scheduled" and el.count == 12 and el.at_hour == 7
    assert [w.value for w in el.weekdays] == ["mon", "tue", "wed", "thu", "fri"]
    ct = d.resources["ct"].failures
    assert ct is not None and ct.time_to_failure.mean() == 240 and ct.repair.mean() == 6
    treat = d.pathways["ed"].step("treatment")
    assert isinstance(treat.duration, LogNormal)
    assert (treat.duration.mean_, treat.duration.sd) == (2.0, 1.2)
    assert (d.run.warmup_days, d.run.run_days, d.run.cooldown_days) == (28, 364, 14)
    assert scenario_names(d) == ["baseline", "ward_plus10", "ed_surge05", "one_ct"]


def test_lognormal_parameterisation_follows_rh1() -> None:
    ln = LogNormal(mean=2.0, sd=1.2)
    import math

    assert ln.sigma**2 == pytest.approx(math.log(1 + 0.36))
    assert ln.mu == pytest.approx(math.log(2.0) - ln.sigma**2 / 2)


def test_scenarios_override_parameters(rh1_data: dict[str, Any]) -> None:
    d = definition_from_data(rh1_data)
    assert apply_scenario(d, "ward_plus10").resources["ward_bed"].capacity == 170
    assert apply_scenario(d, "ed_surge05").arrivals["ed"].multiplier == 1.05
    assert apply_scenario(d, "one_ct").resources["ct"].capacity == 1
    assert apply_scenario(d, "baseline") is d
    with pytest.raises(ScenarioNotFound, match="known: baseline"):
        apply_scenario(d, "nope")


def test_scenario_addresses_steps_by_id(rh1_data: dict[str, Any]) -> None:
    rh1_data["scenarios"]["fast_ct"] = {"set": {"pathways.ed.steps.ct_scan.duration.mean": 0.2}}
    d = apply_scenario(definition_from_data(rh1_data), "fast_ct")
    assert d.pathways["ed"].step("ct_scan").duration.mean() == 0.2


def test_scenario_with_unknown_field_names_it(rh1_data: dict[str, Any]) -> None:
    rh1_data["scenarios"]["bad"] = {"set": {"resources.mri.capacity": 2}}
    with pytest.raises(DefinitionError) as info:
        apply_scenario(definition_from_data(rh1_data), "bad")
    assert info.value.problems[0][0] == "scenarios.bad.set.resources.mri.capacity"


def test_round_trip_keeps_the_content_hash(rh1_data: dict[str, Any]) -> None:
    d = definition_from_data(rh1_data)
    again = parse_definition(dump_definition(d))
    assert again.content_hash() == d.content_hash()


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(DefinitionError) as info:
        definition_from_data(data)
    return dict(info.value.problems)


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (
            lambda d: d["pathways"]["ed"]["steps"][0]["next"][0].update(p=0.3),
            "pathways.ed.steps[treatment].next",
            "sum to 0.95",
        ),
        (
            lambda d: d["pathways"]["ed"]["steps"][1].update(acquire=["mri"]),
            "pathways.ed.steps[ct_scan].acquire",
            "unknown resource 'mri'",
        ),
        (
            lambda d: d["resources"]["icu_bed"].update(capacity=-1),
            "resources.icu_bed.capacity",
            "greater than or equal to 0",
        ),
        (
            lambda d: d["pathways"]["ed"]["steps"][2]["duration"].update(mean=-1),
            "pathways.ed.steps[ct_review].duration.mean",
            "greater than 0",
        ),
        (
            lambda d: d["pathways"]["ed"]["steps"][3].update(next="nowhere"),
            "pathways.ed.steps[disposition].next",
            "unknown step 'nowhere'",
        ),
        (
            lambda d: d["arrivals"]["ed"].update(rates=[1.0] * 23),
            "arrivals.ed.rates",
            "24 or 168",
        ),
        (
            lambda d: d["kpis"]["ct_wait_mean_h"].update(steps=["ed.mri"]),
            "kpis.ct_wait_mean_h.steps[0]",
            "unknown step",
        ),
        (
            lambda d: d["pathways"]["ed"]["steps"][0]["duration"].update(dist="cauchy"),
            "pathways.ed.steps[treatment].duration",
            "does not match any of the expected tags",
        ),
    ],
)
def test_invalid_definitions_name_the_field(
    rh1_data: dict[str, Any], mutate: Any, path: str, fragment: str
) -> None:
    data = copy.deepcopy(rh1_data)
    mutate(data)
    problems = _problems(data)
    assert path in problems, problems
    assert fragment in problems[path]


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(DefinitionError, match=r"YAML syntax error at line 3"):
        parse_definition("name: x\nresources: [\n", source="bad.yaml")
