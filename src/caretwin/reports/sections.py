"""The sections of the simulation report: CareTwin's renderers and the assembly of all of them.

Every section, CareTwin's own included, is a :class:`~caretwin.plugins.ReportSection` of the
``register_report_sections`` hook (``caretwin.plugins.builtin.report_sections`` registers the
renderers below); :func:`rendered_sections` walks the registry in order and the report template
(``report.html.j2``) is a shell that places what they return. CareTwin's renderers each draw a
partial template (``_report_NAME.html.j2``) and return a :class:`SectionHtml` with this report's
heading and contents link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from caretwin.plugins.manager import BUILTIN_DISTRIBUTION, warn_once
from caretwin.plugins.specs import SectionHtml
from caretwin.reports import provenance, tables
from caretwin.reports.report import ReportInput, ordered_results, report_notes, report_plots
from caretwin.reports.report import template as _template

__all__ = [
    "RenderedSection",
    "appendix",
    "calibration",
    "comparison",
    "kpis",
    "notes",
    "observed",
    "plots",
    "rendered_sections",
    "scenarios",
    "scorecard",
]


@dataclass(frozen=True)
class RenderedSection:
    """One section as the report shell places it: ``<section id=ID><h2>TITLE</h2>BODY``."""

    id: str
    title: str
    body: Markup
    nav: str | None = None


def _partial(name: str, **context: Any) -> str:
    # a partial ends with the newline of its last line or block; the shell adds its own
    return _template(f"_report_{name}.html.j2").render(**context).rstrip("\n")


def _reference(inp: ReportInput) -> str:
    return ordered_results(inp)[0].scenario


def scenarios(inp: ReportInput) -> SectionHtml:
    rows = tables.scenario_rows(ordered_results(inp))
    return SectionHtml(_partial("scenarios", scenarios=rows))


def kpis(inp: ReportInput) -> SectionHtml:
    results = ordered_results(inp)
    body = _partial(
        "kpis", scenarios=tables.scenario_rows(results), kpi_rows=tables.kpi_rows(results)
    )
    return SectionHtml(body, nav="KPIs")


def trust(inp: ReportInput) -> SectionHtml | None:
    if inp.trust is None:
        return None
    return SectionHtml(_partial("trust", trust=inp.trust), nav="Uncertainty and load")


def comparison(inp: ReportInput) -> SectionHtml:
    results = ordered_results(inp)
    reference = results[0]
    rows = [(r.scenario, tables.comparison_rows(reference, r)) for r in results[1:]]
    body = _partial("comparison", comparisons=rows, reference=reference.scenario)
    return SectionHtml(
        body,
        title=f"Scenarios against {reference.scenario}",
        nav=f"Scenarios vs {reference.scenario}",
    )


def plots(inp: ReportInput) -> SectionHtml:
    return SectionHtml(_partial("plots", plots=report_plots(inp)), nav="Plots")


def observed(inp: ReportInput) -> SectionHtml | None:
    if not inp.observed:
        return None
    reference = ordered_results(inp)[0]
    rows = tables.observed_rows(inp.observed_result or reference, inp.observed)
    label = inp.observed_label or "observed period"
    body = _partial("observed", observed=rows, observed_label=label, reference=reference.scenario)
    return SectionHtml(body, title=f"Observed vs simulated ({label})", nav="Observed vs simulated")


def scorecard(inp: ReportInput) -> SectionHtml | None:
    if inp.scorecard is None:
        return None
    from caretwin.reports.scorecard import scorecard_html

    return SectionHtml(scorecard_html(inp.scorecard), nav="Validation")


def calibration(inp: ReportInput) -> SectionHtml | None:
    if not inp.calibration:
        return None
    view = provenance.calibration_view(inp.calibration)
    return SectionHtml(_partial("calibration", calibration=view), nav="Calibration")


def notes(inp: ReportInput) -> SectionHtml | None:
    found = report_notes(inp)
    return SectionHtml(_partial("notes", notes=found), nav="Notes") if found else None


def appendix(inp: ReportInput) -> SectionHtml | None:
    if not inp.manifest:
        return None
    rows = provenance.manifest_rows(inp.manifest)
    return SectionHtml(_partial("appendix", manifest=rows), nav="Run manifest")


def rendered_sections(inp: ReportInput) -> list[RenderedSection]:
    """Every registered section of this report, in order. A third party's section that raises
    is left out and reported on stderr; CareTwin's own raise (a bug to see, not to hide)."""
    from caretwin.plugins import registry

    out: list[RenderedSection] = []
    for found in registry.report_sections():
        spec, plugin = found.spec, found.plugin
        builtin = plugin.distribution == BUILTIN_DISTRIBUTION
        try:
            got = spec.render(inp)
        except Exception as exc:
            if builtin:
                raise
            warn_once(
                f"{plugin.name}:section:{spec.name}",
                f"plugin {plugin.name!r}: report section {spec.name!r} failed and is left "
                f"out: {type(exc).__name__}: {exc}",
            )
            continue
        if got is None:
            continue
        # CareTwin's sections keep their bare names as ids (#kpis, #plots); a third party's
        # are prefixed so they never collide with the report's own ids
        sid = spec.name if builtin else f"plugin-{spec.name}"
        if isinstance(got, SectionHtml):
            out.append(RenderedSection(sid, got.title or spec.title, Markup(got.body), got.nav))
        else:  # a plain fragment: indented under the heading
            out.append(RenderedSection(sid, spec.title, Markup(f"  {got}")))
    return out
