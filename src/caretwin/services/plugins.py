"""What plugins are installed and what each provides (``caretwin plugins list``).

Plugins belong to the installation, but which code can run on a workspace's data is worth an
audit trail like any read: listing is an operation (``plugins.list``, permission ``model.read``:
the engines and KPI kinds are what a twin definition may use), audited with the plugins' count
and the failed ones' names. Listing loads every plugin so that each one's status (loaded, or
failed with its error) and what it registered can be shown; ``load=False`` reports what the
entry-point metadata alone says.
"""

from __future__ import annotations

from pydantic import Field

from caretwin.access import Permission
from caretwin.plugins.manager import BUILTIN_DISTRIBUTION, PluginInfo, discover, loaded_plugins
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult

__all__ = ["PluginRow", "list_plugins"]


class PluginRow(ServiceResult):
    """One discovered plugin: its entry point, distribution and version, its status (``loaded``,
    ``not loaded``, ``failed``) and, once loaded, the hooks it implements and what it
    registered by kind (``{"engines": ["fast", ...], "kpis": [...], ...}``)."""

    name: str
    distribution: str
    version: str
    module: str
    status: str
    error: str | None
    hooks: list[str]
    provides: dict[str, list[str]] = Field(default_factory=dict)


def _provided() -> dict[str, dict[str, list[str]]]:
    from caretwin.plugins import registry

    out: dict[str, dict[str, list[str]]] = {}

    def add(kind: str, name: str, info: PluginInfo) -> None:
        out.setdefault(info.name, {}).setdefault(kind, []).append(name)

    for name, p in registry.engines().items():
        add("engines", name, p.plugin)
    for name, k in registry.kpis().items():
        add("kpis", name, k.plugin)
    for f in registry.feeders():
        add("feeders", f.spec.name, f.plugin)
    for name, ft in registry.fitters().items():
        add("fitters", name, ft.plugin)
    for s in registry.report_sections():
        add("report_sections", s.spec.name, s.plugin)
    for name, c in registry.commands().items():
        add("commands", name, c.plugin)
    for name, r in registry.routers().items():
        add("routers", name, r.plugin)
    return out


def list_plugins(ctx: ServiceContext, *, load: bool = True) -> list[PluginRow]:
    """Every discovered plugin, CareTwin's own first."""
    with ctx.operation("plugins.list", Permission.MODEL_READ, target="plugins") as op:
        rows = _rows(load)
        op.details.update(
            {
                "plugins": len(rows),
                "third_party": sorted(
                    r.name for r in rows if r.distribution != BUILTIN_DISTRIBUTION
                ),
                "failed": sorted(r.name for r in rows if r.status == "failed"),
                "loaded": load,
            }
        )
    return rows


def _rows(load: bool) -> list[PluginRow]:
    infos = loaded_plugins() if load else discover()
    provided = _provided() if load else {}
    return [
        PluginRow(
            name=i.name,
            distribution=i.distribution,
            version=i.version,
            module=i.module,
            status=i.status,
            error=i.error,
            hooks=list(i.hooks),
            provides=provided.get(i.name, {}),
        )
        for i in infos
    ]
