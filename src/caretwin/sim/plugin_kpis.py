"""Plugins' KPI kinds: computed from each replication's record once the engine has run.

Built-in kinds are collected by the engines while they run (:mod:`caretwin.sim.kpis`); a
plugin's kind gets, per replication, the engine's record of it (:class:`KpiInput`) and returns a
float, so it works with every engine, the plugins' engines included. The values join the
replication's ``kpis`` and from there the summaries, reports, manifests and reproduction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from caretwin.errors import SimulationError
from caretwin.model.definition import BUILTIN_KPIS, TwinDefinition
from caretwin.plugins.manager import PluginInfo
from caretwin.plugins.specs import KpiInput
from caretwin.sim.compiled import CompiledModel
from caretwin.sim.result import ReplicationResult


@dataclass(frozen=True)
class PluginKpi:
    name: str
    label: str
    unit: str
    config: Any
    compute: Callable[[Any, KpiInput], float]
    plugin: PluginInfo


def plugin_kpis(defn: TwinDefinition) -> list[PluginKpi]:
    """The definition's KPIs of plugins' kinds (none without touching the registry when every
    KPI is a built-in kind)."""
    if all(isinstance(k, BUILTIN_KPIS) for k in defn.kpis.values()):
        return []
    from caretwin.plugins import registry

    specs = registry.kpis()
    out: list[PluginKpi] = []
    for name, k in defn.kpis.items():
        if isinstance(k, BUILTIN_KPIS):
            continue
        found = specs.get(k.type)
        if found is None or found.spec.compute is None:
            raise SimulationError(f"KPI {name!r}: no plugin computes KPIs of type {k.type!r}")
        out.append(PluginKpi(name, k.label or name, k.unit, k, found.spec.compute, found.plugin))
    return out


def add_plugin_kpis(
    kpis: list[PluginKpi], model: CompiledModel, results: list[ReplicationResult]
) -> None:
    """Compute each plugin KPI for every replication, in place."""
    for k in kpis:
        for rep in results:
            try:
                value = float(k.compute(k.config, KpiInput(k.name, model, rep)))
            except Exception as exc:
                raise SimulationError(
                    f"KPI {k.name!r} of plugin {k.plugin.name!r} failed on replication "
                    f"{rep.replication}: {type(exc).__name__}: {exc}"
                ) from exc
            rep.kpis[k.name] = value if math.isfinite(value) else math.nan


def kpi_plugin_refs(defn: TwinDefinition) -> list[dict[str, str]]:
    """The manifest entries of the third-party plugins whose KPI kinds ``defn`` uses."""
    from caretwin.plugins.manager import third_party_refs

    return third_party_refs([k.plugin for k in plugin_kpis(defn)])
