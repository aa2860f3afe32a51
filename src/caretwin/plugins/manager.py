"""Discovering and loading plugins: entry points of the group ``caretwin``, loaded once, lazily.

Discovery reads installed distributions' metadata only (:func:`discover`); a plugin's module is
imported the first time a feature needs the hooks (:func:`plugin_manager`): resolving an engine
name, validating a twin definition's KPIs, finding an ingest file's format, listing commands. A
plugin whose import (or registration) raises is reported once on stderr and skipped; CareTwin
carries on with the others.

CareTwin's own engines, KPIs, feeders, fitters, report sections and commands are entry points of
the ``caretwin`` distribution (``pyproject.toml``), loaded by this same code. When CareTwin runs
from a source tree whose installed metadata predates those entry points, :data:`BUILTIN` stands
in for them (a test keeps the two lists equal).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Literal

import pluggy

from caretwin.plugins.hookspecs import ENTRY_POINT_GROUP, HOOKS, PROJECT, CareTwinSpecs

__all__ = [
    "BUILTIN",
    "BUILTIN_DISTRIBUTION",
    "PluginInfo",
    "discover",
    "loaded_plugins",
    "mismatches",
    "plugin_manager",
    "reset",
    "third_party_refs",
    "warn_once",
]

BUILTIN_DISTRIBUTION = "caretwin"
#: CareTwin's own plugins: entry-point name -> module (as in ``pyproject.toml``).
BUILTIN: dict[str, str] = {
    "builtin_engines": "caretwin.sim.plugin",
    "builtin_kpis": "caretwin.sim.kpi_plugin",
    "builtin_feeders": "caretwin.ingest.plugin",
    "builtin_fitters": "caretwin.plugins.builtin.fitters",
    "builtin_report_sections": "caretwin.plugins.builtin.report_sections",
    "builtin_commands": "caretwin.cli.plugin",
    "builtin_routers": "caretwin.api.plugin",
    "builtin_pages": "caretwin.web.plugin",
    "builtin_job_kinds": "caretwin.plugins.builtin.job_kinds",
}

Status = Literal["not loaded", "loaded", "failed"]


@dataclass
class PluginInfo:
    """One discovered plugin: its entry point, distribution, and what loading it gave."""

    name: str
    module: str
    distribution: str
    version: str
    status: Status = "not loaded"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION

    def ref(self) -> dict[str, str]:
        """How a run manifest records the plugin."""
        return {"name": self.name, "distribution": self.distribution, "version": self.version}


_lock = threading.RLock()
_infos: list[PluginInfo] | None = None
_manager: pluggy.PluginManager | None = None
_warned: set[str] = set()


def _caretwin_version() -> str:
    from caretwin.version import __version__

    return __version__


def discover() -> list[PluginInfo]:
    """Every plugin installed, from entry-point metadata alone (no plugin module is imported)."""
    global _infos
    with _lock:
        if _infos is None:
            found: dict[str, PluginInfo] = {}
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                dist = ep.dist
                dist_name = dist.metadata["Name"] if dist is not None else "unknown"
                version = dist.version if dist is not None else "unknown"
                # The first of two entry points with one name wins (sys.path order), as for
                # imports; the second is shadowed and never loaded.
                found.setdefault(ep.name, PluginInfo(ep.name, ep.value, dist_name, version))
            for name, module in BUILTIN.items():
                if name not in found:
                    found[name] = PluginInfo(
                        name, module, BUILTIN_DISTRIBUTION, _caretwin_version()
                    )
            # CareTwin's own first, so a third party cannot take a built-in name by load order.
            _infos = sorted(found.values(), key=lambda i: (not i.builtin, i.name))
        return _infos


def warn_once(key: str, message: str) -> None:
    """Write ``message`` to stderr once per process (never a traceback, never data values)."""
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    sys.stderr.write(f"caretwin: {message}\n")


def _warn(info: PluginInfo) -> None:
    warn_once(
        info.name,
        f"plugin {info.name!r} ({info.distribution} {info.version}) failed to load and is "
        f"skipped: {info.error}",
    )


def _load(pm: pluggy.PluginManager, info: PluginInfo) -> None:
    import importlib

    try:
        module = importlib.import_module(info.module.partition(":")[0])
        pm.register(module, name=info.name)
    except Exception as exc:  # a broken plugin never stops CareTwin
        info.status = "failed"
        info.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        _warn(info)
        return
    info.status = "loaded"
    info.hooks = [h for h in HOOKS if _implements(pm, info, h)]


def _implements(pm: pluggy.PluginManager, info: PluginInfo, hook: str) -> bool:
    caller = getattr(pm.hook, hook)
    return any(impl.plugin_name == info.name for impl in caller.get_hookimpls())


def plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager with every discovered plugin loaded (once per process)."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(PROJECT)
            pm.add_hookspecs(CareTwinSpecs)
            for info in discover():
                _load(pm, info)
            _manager = pm
        return _manager


def loaded_plugins() -> list[PluginInfo]:
    """Every plugin with its status after loading them all."""
    plugin_manager()
    return discover()


def third_party_refs(infos: list[PluginInfo]) -> list[dict[str, str]]:
    """How a run manifest records the plugins it used: each third-party one once, sorted by
    name (CareTwin's own are pinned by the manifest's ``caretwin_version``)."""
    seen: dict[str, dict[str, str]] = {}
    for info in infos:
        if not info.builtin:
            seen.setdefault(info.name, info.ref())
    return [seen[k] for k in sorted(seen)]


def mismatches(refs: list[dict[str, str]]) -> list[str]:
    """Why the recorded plugins ``refs`` differ from what is installed (empty: none differ)."""
    installed = {i.name: i for i in discover()}
    out: list[str] = []
    for ref in refs:
        name, version = ref.get("name", "?"), ref.get("version", "?")
        dist = ref.get("distribution", "?")
        have = installed.get(name)
        if have is None:
            out.append(f"plugin {name!r} ({dist} {version}) is not installed")
        elif have.version != version or have.distribution != dist:
            out.append(
                f"plugin {name!r} is {have.distribution} {have.version} here, "
                f"the run used {dist} {version}"
            )
    return out


def plugin(name: str) -> PluginInfo:
    """The discovered plugin called ``name``."""
    for info in discover():
        if info.name == name:
            return info
    raise KeyError(name)


def reset() -> None:
    """Forget what was discovered and loaded (tests, after installing a plugin in-process)."""
    global _infos, _manager
    with _lock:
        _infos = None
        _manager = None
        _warned.clear()
        from caretwin.plugins import registry

        registry.clear()
