"""CareTwin's plugin mechanism (pluggy): engines, KPI kinds, feeders, fitters, report sections
and commands, discovered from the entry-point group ``caretwin``. See ``docs/plugins.md``.

A plugin module marks module-level functions with :data:`hookimpl` and returns specs::

    from caretwin.plugins import EngineSpec, hookimpl

    @hookimpl
    def register_engines() -> list[EngineSpec]:
        return [EngineSpec("mine", "My engine", run=run_replication)]
"""

from caretwin.plugins.hookspecs import ENTRY_POINT_GROUP, hookimpl, hookspec
from caretwin.plugins.specs import (
    CommandGroup,
    EngineSpec,
    FeederSpec,
    FittedFamily,
    FitterSpec,
    JobKindSpec,
    JobOutput,
    JobProgress,
    KpiInput,
    KpiSpec,
    NativeKpi,
    NavLink,
    PageSpec,
    ReportSection,
    ResourceRecord,
    RouterSpec,
    SectionHtml,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "CommandGroup",
    "EngineSpec",
    "FeederSpec",
    "FittedFamily",
    "FitterSpec",
    "JobKindSpec",
    "JobOutput",
    "JobProgress",
    "KpiInput",
    "KpiSpec",
    "NativeKpi",
    "NavLink",
    "PageSpec",
    "ReportSection",
    "ResourceRecord",
    "RouterSpec",
    "SectionHtml",
    "hookimpl",
    "hookspec",
]
