"""CareTwin's own KPI kinds, registered through the ``register_kpis`` hook like any plugin's.

(In :mod:`caretwin.sim`, whose package imports nothing, rather than beside the format in
:mod:`caretwin.model`: a plugin module must be cheap to load, and ``caretwin.model`` is not.)

Their values are collected by every engine while it runs (``compute=None``): per-patient
intervals and waits, time-weighted occupancy and utilisation, turned-away and reneged counts
(:mod:`caretwin.sim.kpis`). Plugins' kinds are computed from each replication's record instead
(:mod:`caretwin.sim.plugin_kpis`); their entries are checked by :mod:`caretwin.model.kpi_kinds`.
"""

from __future__ import annotations

from caretwin.plugins import KpiSpec, hookimpl


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
