"""The simulation report's own sections, registered through the ``register_report_sections``
hook like any plugin's, each with its renderer (:mod:`caretwin.reports.sections`). The report is
assembled by walking the registry in order, so a plugin's section takes its place among them by
its ``order`` (between the figures, 40, and the observed comparison, 60, by default).

The renderers are imported when a report is first drawn, not when the registry is built: this
module stays as cheap to load as a third party's should be (no jinja2, no plotly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from caretwin.plugins import ReportSection, SectionHtml, hookimpl

if TYPE_CHECKING:
    from caretwin.reports.report import ReportInput

#: (name = the section's HTML id and its renderer in caretwin.reports.sections, title, order)
BUILTIN_SECTIONS = (
    ("scenarios", "Scenarios run", 10),
    ("kpis", "Key performance indicators", 20),
    ("trust", "Uncertainty, load and stability", 25),
    ("comparison", "Scenarios against the reference", 30),
    ("plots", "Plots", 40),
    ("scorecard", "Validation scorecard", 55),
    ("observed", "Observed vs simulated", 60),
    ("calibration", "Calibration diagnostics", 70),
    ("notes", "Notes", 80),
    ("appendix", "Appendix: run manifest", 90),
)


@dataclass(frozen=True)
class _Renderer:
    """``caretwin.reports.sections.<name>``, imported at the first call."""

    name: str

    def __call__(self, inp: ReportInput) -> SectionHtml | None:
        from caretwin.reports import sections

        render = getattr(sections, self.name)
        out: SectionHtml | None = render(inp)
        return out


@hookimpl
def register_report_sections() -> list[ReportSection]:
    return [
        ReportSection(name, title, render=_Renderer(name), order=order)
        for name, title, order in BUILTIN_SECTIONS
    ]
