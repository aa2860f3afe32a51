"""The self-contained HTML report of a simulation run: one file that opens offline.

:func:`write_report` renders a :class:`ReportInput` with the Jinja2 template
``templates/report.html.j2`` (autoescaped), a shell around the report's sections: every section,
CareTwin's own too, is registered through the ``register_report_sections`` hook and rendered by
:mod:`caretwin.reports.sections` in the registry's order. plotly.js is embedded once, inline, so
the file needs no network access: no CDN, no web fonts, no external links in ``src`` or ``href``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from caretwin.errors import DataError
from caretwin.reports import figures, provenance, tables
from caretwin.reports.output import write_document
from caretwin.reports.plot import NARROW_MAX_WIDTH_PX, Plot
from caretwin.reports.trust import TrustInput
from caretwin.sim.result import HIST_BIN_H, HIST_BINS, SimulationResult
from caretwin.version import __version__

if TYPE_CHECKING:
    from caretwin.validation.scorecard import Scorecard

DISCLAIMER_BODY = (
    "These figures come from a simulation model of hospital operations and carry statistical "
    "and model uncertainty; they describe what the model predicts under stated assumptions. "
    "They are not clinical directives and do not replace professional judgement about any "
    "patient or service."
)
DISCLAIMER = f"Decision support only. {DISCLAIMER_BODY}"


@dataclass
class ReportInput:
    title: str
    model_name: str
    model_hash: str
    results: dict[str, SimulationResult]  # scenario name -> result; "baseline" first if present
    baseline: str = "baseline"
    observed: dict[str, float] | None = None  # observed KPIs of a held-out period
    observed_label: str | None = None  # e.g. "held-out month 2026-01"
    # Simulation of the observed period itself (same length as it), compared with ``observed``;
    # without it the reference scenario's replications stand in.
    observed_result: SimulationResult | None = None
    calibration: dict[str, Any] | None = None  # the calibrated model's provenance dict
    manifest: dict[str, Any] | None = None  # run manifest, shown in an appendix
    notes: list[str] = field(default_factory=list)
    # KPI name -> limit in hours (e.g. the threshold of a ``pct_over`` KPI), drawn as a marker
    # on the distribution plot when it belongs to the plotted KPI or measures the same interval.
    thresholds: dict[str, float] = field(default_factory=dict)
    # The validation scorecard (caretwin.validation): replaces the observed range check.
    scorecard: Scorecard | None = None
    # intervals under parameter uncertainty, load per resource, runaway replications
    trust: TrustInput | None = None

    @functools.cached_property
    def plots(self) -> list[Plot]:
        """The report's figures, built once: the plots section draws them, the page's
        stylesheet sizes their boxes."""
        return _plots(ordered_results(self), self.thresholds)


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("caretwin.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["narrow_max_width_px"] = NARROW_MAX_WIDTH_PX  # the CSS and the JS share it
    return env


def template(name: str) -> jinja2.Template:
    """One of the report templates (``templates/``), in the shared autoescaping environment."""
    return _environment().get_template(name)


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly Python package."""
    from plotly.offline import get_plotlyjs

    js = str(get_plotlyjs())
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def ordered_results(inp: ReportInput) -> list[SimulationResult]:
    """The baseline first (when present), then the other scenarios in the given order."""
    first = [inp.results[inp.baseline]] if inp.baseline in inp.results else []
    return first + [r for name, r in inp.results.items() if name != inp.baseline]


def _distribution_caption(dist: figures.Distribution, label: str) -> str:
    parts = [
        f"Patient-level values of {label} ({dist.kpi}) pooled over all replications, as a share "
        f"of patients per {HIST_BIN_H:g} h bin."
    ]
    if any(t.share > 0 for t in dist.tails):
        tails = "; ".join(f"{t.scenario} {figures.tail_text(t)}" for t in dist.tails)
        parts.append(
            f"The axis ends at {dist.x_max:g} h, which covers "
            f"{100 * figures.VISIBLE_QUANTILE:g}% of {dist.shares[0][0]} patients; longer "
            f"stays: {tails}. Zoom out (double-click the plot) to see them."
        )
    if dist.thresholds:
        marks = ", ".join(f"{v:g} h ({what})" for v, what in dist.thresholds)
        parts.append(f"Dashed line: {marks}.")
    parts.append(
        f"The last bin (from {(HIST_BINS - 1) * HIST_BIN_H:g} h) also collects longer values."
    )
    return " ".join(parts)


def _plots(results: list[SimulationResult], thresholds: dict[str, float]) -> list[Plot]:
    plots: list[Plot] = []
    others = " Other scenarios are dotted; click their legend entries to show them."

    def add(
        pid: str,
        title: str,
        caption: str,
        fig: figures.Figure | None,
        narrow: figures.Figure | None = None,
    ) -> None:
        if fig is not None:
            plots.append(Plot.of(pid, title, caption, fig, narrow))

    add(
        "plot-occupancy",
        "Occupancy over time",
        f"Daily mean units held per resource (one panel each, own vertical scale starting at "
        f"0), averaged over replications, for {results[0].scenario} (solid)."
        f"{others if len(results) > 1 else ''} "
        "Beds held by blocked or boarding patients count as occupied.",
        figures.occupancy_figure(results),
    )
    kpi = figures.histogram_kpi(results[0])
    if kpi is not None:
        meta = tables.kpi_meta(results, kpi)
        label = meta.label if meta and meta.label else kpi
        dist = figures.distribution(results, kpi, thresholds)
        if dist is not None:
            add(
                "plot-distribution",
                f"Distribution: {label}",
                _distribution_caption(dist, label),
                figures.distribution_figure(results, kpi, thresholds, dist=dist),
            )
    add(
        "plot-kpis",
        "KPIs by scenario",
        "Mean across replications per scenario; error bars are 95% confidence intervals of "
        "the mean.",
        figures.kpi_bars_figure(results),
        # on a phone the titles of three columns collide: one column there
        figures.kpi_bars_figure(results, columns=1, row_px=210),
    )
    return plots


def report_plots(inp: ReportInput) -> list[Plot]:
    return inp.plots


def report_notes(inp: ReportInput) -> list[str]:
    """The report's notes, with one first when the baseline named is not among the results."""
    notes = list(inp.notes)
    if inp.baseline not in inp.results and inp.results:
        notes.insert(
            0,
            f"No scenario named {inp.baseline!r} among the results; "
            f"{ordered_results(inp)[0].scenario!r} is used as the reference.",
        )
    return notes


def build_context(inp: ReportInput, now: datetime | None = None) -> dict[str, Any]:
    """What the report shell shows around its sections, as display-ready values, and the
    sections themselves (:func:`caretwin.reports.sections.rendered_sections`)."""
    from caretwin.reports.sections import rendered_sections

    results = ordered_results(inp)
    if not results:
        raise DataError("a report needs at least one simulation result")
    manifest = inp.manifest or {}
    return {
        "title": inp.title,
        "model_name": inp.model_name,
        "model_hash": inp.model_hash,
        "run_id": provenance.manifest_field(manifest, "run_id", "id") or "not recorded",
        "run_date": provenance.manifest_field(manifest, "created_at", "started_at", "date"),
        "generated": (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "disclaimer": DISCLAIMER,
        "disclaimer_body": DISCLAIMER_BODY,
        "reference": results[0].scenario,
        "sections": rendered_sections(inp),
        "plots": report_plots(inp),
        "plotly_js": Markup(plotly_js()),
    }


def render_report(inp: ReportInput, now: datetime | None = None) -> str:
    """The report as one HTML document."""
    return _environment().get_template("report.html.j2").render(build_context(inp, now))


def write_report(inp: ReportInput, path: Path) -> Path:
    """Render the report and write it atomically to ``path`` (parents created); returns it."""
    return write_document(render_report(inp), path)
