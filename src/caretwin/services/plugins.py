"""What plugins are installed and what each provides (``caretwin plugins list``).

Plugins belong to the installation, not to a workspace, so listing them needs no workspace and
audits nothing (like ``caretwin schema``). Listing loads every plugin so that each one's status
(loaded, or failed with its error) and what it registered can be shown; ``load=False`` reports
what the entry-point metadata alone says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from caretwin.plugins.manager import PluginInfo, discover, loaded_plugins

__all__ = ["PluginRow", "list_plugins"]


@dataclass(frozen=True)
class PluginRow:
    name: str
    distribution: str
    version: str
    module: str
    status: str
    error: str | None
    hooks: list[str]
    # what the plugin registered, by kind: {"engines": ["fast", ...], "kpis": [...], ...}
    provides: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    return out


def list_plugins(*, load: bool = True) -> list[PluginRow]:
    """Every discovered plugin, CareTwin's own first."""
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
