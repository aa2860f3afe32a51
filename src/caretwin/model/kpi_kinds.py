"""The twin format's side of KPI kinds registered by plugins: which entry models it accepts, and
each kind's own ``check`` of an entry.

Here, in the model package, rather than in :mod:`caretwin.plugins.registry`: a plugin's KPI
model must be a :class:`~caretwin.model.definition.KpiConfig`, a twin-format class, and the
plugin registry sits below the model, so the model asks the registry for what is registered and
judges it itself. (Nor beside the built-in KPI plugin in :mod:`caretwin.sim.kpi_plugin`: the model
sits below the engines too.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caretwin.plugins import registry
from caretwin.plugins.manager import warn_once

if TYPE_CHECKING:
    from caretwin.model.definition import KpiConfig, TwinDefinition

__all__ = ["kpi_configs", "plugin_kpi_problems"]


def kpi_configs() -> dict[str, type[KpiConfig]]:
    """Every registered KPI kind and the pydantic model of its entries (the twin format's
    ``kpis`` union); a spec whose model is not a :class:`KpiConfig` with a matching ``type`` is
    reported and skipped."""
    from caretwin.model.definition import KpiConfig

    out: dict[str, type[KpiConfig]] = {}
    for kind, p in registry.kpis().items():
        model = p.spec.config
        field = model.model_fields.get("type") if isinstance(model, type) else None
        if (
            not (isinstance(model, type) and issubclass(model, KpiConfig))
            or field is None
            or (
                field.annotation is not None
                and kind not in getattr(field.annotation, "__args__", ())
            )
        ):
            warn_once(
                f"{p.plugin.name}:kpi:{kind}",
                f"plugin {p.plugin.name!r}: KPI kind {kind!r} needs a KpiConfig subclass with "
                f"type: Literal[{kind!r}]; skipped",
            )
            continue
        out[kind] = model
    return out


def plugin_kpi_problems(d: TwinDefinition, name: str, k: KpiConfig) -> list[tuple[str, str]]:
    """Problems of a plugin KPI entry, from its kind's ``check`` (none when it has no check)."""
    found = registry.kpis().get(k.type)
    if found is None or found.spec.check is None:
        return []
    base = f"kpis.{name}"
    try:
        problems = found.spec.check(k, d)
    except Exception as exc:  # a plugin's bug is its entry's problem, not a crash
        return [(base, f"the {k.type!r} check of plugin {found.plugin.name!r} failed: {exc}")]
    return [(f"{base}.{path}" if path else base, message) for path, message in problems]
