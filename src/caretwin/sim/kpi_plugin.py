"""CareTwin's own KPI kinds, registered through the ``register_kpis`` hook like any plugin's.

(In :mod:`caretwin.sim`, whose package imports nothing, rather than beside the format in
:mod:`caretwin.model`: a plugin module must be cheap to load, and ``caretwin.model`` is not.)

Their values are collected by every engine while it runs (``compute=None``): per-patient
intervals and waits, time-weighted occupancy and utilisation, turned-away and reneged counts
(:mod:`caretwin.sim.kpis`). Plugins' kinds are computed from each replication's record instead
(:mod:`caretwin.sim.plugin_kpis`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caretwin.plugins import KpiSpec, hookimpl

if TYPE_CHECKING:
    from caretwin.model.definition import KpiConfig, TwinDefinition


@hookimpl
def register_kpis() -> list[KpiSpec]:
    from caretwin.model.definition import BUILTIN_KPIS

    return [
        KpiSpec(
            str(model.model_fields["type"].default),
            model,
            description=(model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
        )
        for model in BUILTIN_KPIS
    ]


def plugin_kpi_problems(d: TwinDefinition, name: str, k: KpiConfig) -> list[tuple[str, str]]:
    """Problems of a plugin KPI entry, from its kind's ``check`` (none when it has no check)."""
    from caretwin.plugins import registry

    found = registry.kpis().get(k.type)
    if found is None or found.spec.check is None:
        return []
    base = f"kpis.{name}"
    try:
        problems = found.spec.check(k, d)
    except Exception as exc:  # a plugin's bug is its entry's problem, not a crash
        return [(base, f"the {k.type!r} check of plugin {found.plugin.name!r} failed: {exc}")]
    return [(f"{base}.{path}" if path else base, message) for path, message in problems]
