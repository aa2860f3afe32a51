"""Built-in KPI kinds go through their registered spec: compile step and value function."""

from __future__ import annotations

from dataclasses import replace

import pytest

from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.plugins import NativeKpi, registry
from caretwin.plugins.registry import Provided
from caretwin.sim.compiled import CKpi, compile_definition
from caretwin.sim.kpis import Collected
from caretwin.sim.native_kpis import compile_resource, occupancy_value
from caretwin.sim.runner import simulate


def rh1(days: float = 3.0) -> TwinDefinition:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    return defn.model_copy(update={"run": defn.run.model_copy(update={"run_days": days})})


def test_every_builtin_kind_is_engine_native_and_compiled_by_its_spec() -> None:
    specs = registry.kpis()
    builtin = ("interval", "wait", "occupancy", "turned_away", "reneged", "utilisation")
    assert all(specs[kind].spec.native is not None for kind in builtin)
    model = compile_definition(rh1())
    assert [k.name for k in model.kpis] == list(rh1().kpis)
    for i, k in enumerate(model.kpis):
        native = specs[k.kind].spec.native
        assert native is not None and k.value is native.value and k.index == i


def double_occupancy(k: CKpi, c: Collected) -> tuple[float, None]:
    value, _ = occupancy_value(k, c)
    return 2.0 * value, None


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_engines_fold_kpis_through_the_registered_value_function(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    defn = rh1()
    before = simulate(defn, replications=1, seed=4, engine=engine).replications[0].kpis
    found = registry.kpis()["occupancy"]
    doubled = replace(found.spec, native=NativeKpi(compile_resource, double_occupancy))
    monkeypatch.setitem(registry.kpis(), "occupancy", Provided(doubled, found.plugin))
    after = simulate(defn, replications=1, seed=4, engine=engine).replications[0].kpis
    for name, k in defn.kpis.items():
        expected = 2.0 * before[name] if k.type == "occupancy" else before[name]
        assert after[name] == expected, name
