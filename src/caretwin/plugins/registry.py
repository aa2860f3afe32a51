"""The typed registries built from the hooks: engines, KPI kinds, feeders, fitters, report
sections and commands, each spec attributed to the plugin that provided it.

Each plugin's hook implementation is called on its own, so one that raises is reported and
skipped without losing the others. Names are first come, first served: CareTwin's built-ins load
first, and a plugin offering a name already taken is reported and that spec skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from caretwin.plugins.manager import PluginInfo, plugin, plugin_manager, warn_once
from caretwin.plugins.specs import (
    CommandGroup,
    EngineSpec,
    FeederSpec,
    FitterSpec,
    JobKindSpec,
    KpiSpec,
    PageSpec,
    ReportSection,
    RouterSpec,
)

__all__ = [
    "Provided",
    "clear",
    "commands",
    "engines",
    "feeders",
    "fitters",
    "job_kinds",
    "kpis",
    "pages",
    "report_sections",
    "routers",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Provided(Generic[T]):
    """A spec and the plugin it came from."""

    spec: T
    plugin: PluginInfo


_lock = threading.RLock()
_cache: dict[str, dict[str, Provided[Any]]] = {}


def clear() -> None:
    with _lock:
        _cache.clear()


def _collect(hook: str, what: str, key: Callable[[Any], str]) -> dict[str, Provided[Any]]:
    with _lock:
        if hook in _cache:
            return _cache[hook]
        pm = plugin_manager()
        out: dict[str, Provided[Any]] = {}
        for impl in getattr(pm.hook, hook).get_hookimpls():
            info = plugin(impl.plugin_name)
            try:
                specs = list(impl.function() or [])
            except Exception as exc:  # a broken plugin never stops CareTwin
                info.error = f"{hook}: {type(exc).__name__}: {exc}".splitlines()[0][:300]
                warn_once(f"{info.name}:{hook}", f"plugin {info.name!r}: {info.error}; skipped")
                continue
            for spec in specs:
                name = key(spec)
                if name in out:
                    other = out[name].plugin
                    warn_once(
                        f"{info.name}:{hook}:{name}",
                        f"plugin {info.name!r}: {what} {name!r} is already provided by "
                        f"{other.name!r} ({other.distribution}); skipped",
                    )
                    continue
                out[name] = Provided(spec, info)
        _cache[hook] = out
        return out


def engines() -> dict[str, Provided[EngineSpec]]:
    return cast(dict[str, Provided[EngineSpec]], _collect("register_engines", "engine", _name))


def kpis() -> dict[str, Provided[KpiSpec]]:
    return cast(
        dict[str, Provided[KpiSpec]], _collect("register_kpis", "KPI kind", lambda s: s.kind)
    )


def feeders() -> list[Provided[FeederSpec]]:
    found = cast(dict[str, Provided[FeederSpec]], _collect("register_feeders", "feeder", _name))
    return sorted(found.values(), key=lambda p: (p.spec.order, p.spec.name))


def fitters() -> dict[str, Provided[FitterSpec]]:
    return cast(
        dict[str, Provided[FitterSpec]],
        _collect("register_fitters", "fitter", lambda s: s.family),
    )


def report_sections() -> list[Provided[ReportSection]]:
    found = cast(
        dict[str, Provided[ReportSection]],
        _collect("register_report_sections", "report section", _name),
    )
    return sorted(found.values(), key=lambda p: (p.spec.order, p.spec.name))


def commands() -> dict[str, Provided[CommandGroup]]:
    return cast(dict[str, Provided[CommandGroup]], _collect("register_commands", "command", _name))


def routers() -> dict[str, Provided[RouterSpec]]:
    return cast(dict[str, Provided[RouterSpec]], _collect("register_routers", "router", _name))


def pages() -> dict[str, Provided[PageSpec]]:
    return cast(dict[str, Provided[PageSpec]], _collect("register_pages", "page group", _name))


def job_kinds() -> dict[str, Provided[JobKindSpec]]:
    return cast(dict[str, Provided[JobKindSpec]], _collect("register_job_kinds", "job kind", _name))


def _name(spec: Any) -> str:
    return str(spec.name)
