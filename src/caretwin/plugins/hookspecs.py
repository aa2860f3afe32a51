"""The hooks a CareTwin plugin implements (pluggy, project name ``caretwin``).

Every hook takes no argument and returns a list of typed specs (:mod:`caretwin.plugins.specs`);
the registry (:mod:`caretwin.plugins.registry`) calls each plugin's implementation separately so
every spec is attributed to the plugin, distribution and version that provided it. CareTwin's own
engines, KPIs, feeders, fitters, report sections, command groups, API routers and web pages come
through these same hooks (the ``caretwin`` distribution's entry points). The contracts are in
``docs/plugins.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
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

PROJECT = "caretwin"
#: The entry-point group plugins are discovered from.
ENTRY_POINT_GROUP = "caretwin"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Hook names, in the order ``caretwin plugins list`` shows them.
HOOKS = (
    "register_engines",
    "register_kpis",
    "register_feeders",
    "register_fitters",
    "register_report_sections",
    "register_commands",
    "register_routers",
    "register_pages",
    "register_job_kinds",
)


class CareTwinSpecs:
    """Hook specifications. Implementations are module-level functions marked ``@hookimpl``."""

    @hookspec
    def register_engines(self) -> list[EngineSpec]:  # type: ignore[empty-body]  # a hookspec body never runs
        """Simulation engines: each runs one replication of a compiled model."""

    @hookspec
    def register_kpis(self) -> list[KpiSpec]:  # type: ignore[empty-body]  # a hookspec body never runs
        """KPI kinds: a ``type`` of the twin format's ``kpis`` and how its value is computed."""

    @hookspec
    def register_feeders(self) -> list[FeederSpec]:  # type: ignore[empty-body]  # a hookspec body never runs
        """Input formats of ``caretwin ingest``: the files they recognise, how they are read."""

    @hookspec
    def register_fitters(self) -> list[FitterSpec]:  # type: ignore[empty-body]  # a hookspec body never runs
        """Duration families calibration may fit (the lowest AIC wins)."""

    @hookspec
    def register_report_sections(self) -> list[ReportSection]:  # type: ignore[empty-body]  # a hookspec body never runs
        """Sections added to the simulation report."""

    @hookspec
    def register_commands(self) -> list[CommandGroup]:  # type: ignore[empty-body]  # a hookspec body never runs
        """Top-level command groups of the ``caretwin`` command line."""

    @hookspec
    def register_routers(self) -> list[RouterSpec]:  # type: ignore[empty-body]  # a hookspec body never runs
        """Route groups of the HTTP API (``caretwin serve``), under ``/api/v1``."""

    @hookspec
    def register_pages(self) -> list[PageSpec]:  # type: ignore[empty-body]  # a hookspec body never runs
        """Page groups of the web app (``caretwin serve``), at the site's root."""

    @hookspec
    def register_job_kinds(self) -> list[JobKindSpec]:  # type: ignore[empty-body]  # a hookspec body never runs
        """Kinds of background job: parameters, permission, runner, cancellable or not."""
