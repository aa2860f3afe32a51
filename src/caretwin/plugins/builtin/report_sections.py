"""The simulation report's sections, registered through the ``register_report_sections`` hook
like any plugin's. CareTwin's own are drawn by the report template
(``reports/templates/report.html.j2``, ``render=None``); plugins' sections are rendered by their
``render`` and placed after the built-in result sections (:func:`plugin_sections`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from caretwin.plugins import ReportSection, hookimpl

if TYPE_CHECKING:
    from caretwin.reports.report import ReportInput

#: (name = the section's HTML id, title, order) of the template's own sections
BUILTIN_SECTIONS = (
    ("scenarios", "Scenarios", 10),
    ("kpis", "Key performance indicators", 20),
    ("comparison", "Comparison with the reference", 30),
    ("plots", "Figures", 40),
    ("observed", "Simulated vs observed", 60),
    ("calibration", "Calibration diagnostics", 70),
    ("notes", "Notes", 80),
    ("appendix", "Appendix: run manifest", 90),
)


@hookimpl
def register_report_sections() -> list[ReportSection]:
    return [ReportSection(name, title, order=order) for name, title, order in BUILTIN_SECTIONS]


@dataclass(frozen=True)
class RenderedSection:
    name: str
    title: str
    html: str


def plugin_sections(inp: ReportInput) -> list[RenderedSection]:
    """Plugins' sections of this report, rendered; one that raises is left out and reported."""
    from caretwin.plugins import registry
    from caretwin.plugins.manager import warn_once

    out: list[RenderedSection] = []
    for found in registry.report_sections():
        spec = found.spec
        if spec.render is None:
            continue
        try:
            html = spec.render(inp)
        except Exception as exc:  # a plugin's bug never loses the report
            warn_once(
                f"{found.plugin.name}:section:{spec.name}",
                f"plugin {found.plugin.name!r}: report section {spec.name!r} failed and is left "
                f"out: {type(exc).__name__}: {exc}",
            )
            continue
        if html is not None:
            out.append(RenderedSection(spec.name, spec.title, html))
    return out
