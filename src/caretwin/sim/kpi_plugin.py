"""CareTwin's own KPI kinds, registered through the ``register_kpis`` hook like any plugin's.

(In :mod:`caretwin.sim`, whose package imports nothing, rather than beside the format in
:mod:`caretwin.model`: a plugin module must be cheap to load, and ``caretwin.model`` is not.)

They are engine-native kinds: each spec carries its compile step and value function
(``native``, :mod:`caretwin.sim.native_kpis`), through which ``compile_definition`` and every
engine's ``replication_result`` dispatch. Plugins' kinds are usually record-based, computed from
each replication's record instead (:mod:`caretwin.sim.plugin_kpis`); their entries are checked
by :mod:`caretwin.model.kpi_kinds`.
"""

from __future__ import annotations

from caretwin.plugins import KpiSpec, hookimpl


@hookimpl
def register_kpis() -> list[KpiSpec]:
    from caretwin.model.definition import BUILTIN_KPIS
    from caretwin.sim.native_kpis import native_kpis

    native = native_kpis()
    out = []
    for model in BUILTIN_KPIS:
        kind = str(model.model_fields["type"].default)
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        out.append(KpiSpec(kind, model, description=doc, native=native[kind]))
    return out
