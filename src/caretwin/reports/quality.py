"""The self-contained HTML page of a data-quality report (opens offline; plotly.js inline once).

It reuses the simulation report's machinery — the autoescaping Jinja2 environment, the inline
plotly.js bundle, the script-safe figure JSON and the atomic file write — and shows only what the
:class:`~caretwin.quality.QualityReport` holds: counts, null rates, example ids and code values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from caretwin.quality import QualityReport
from caretwin.quality.valuesets import load_value_set
from caretwin.reports import report as base
from caretwin.reports.figures import PALETTE
from caretwin.reports.output import write_document
from caretwin.reports.plot import Plot
from caretwin.version import __version__

__all__ = ["build_quality_context", "render_quality_report", "write_quality_report"]

TEMPLATE = "quality.html.j2"
KIND_TITLES = {
    "reference": "Unresolved references",
    "period": "Periods ending before they start",
    "overlap": "Overlapping location periods within an encounter",
    "value_set": "Codes outside their value sets",
}


def _null_figure(report: QualityReport) -> dict[str, Any] | None:
    """Null rate of every column that has nulls, one bar each, grouped by table."""
    labels, rates = [], []
    for t in report.tables:
        for c in t.columns:
            if c.nulls:
                labels.append(f"{t.table}.{c.column}")
                rates.append(round(100 * c.null_rate, 3))
    if not labels:
        return None
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": labels,
                "x": rates,
                "marker": {"color": PALETTE[0]},
                "hovertemplate": "%{y}: %{x:.2f}% null<extra></extra>",
            }
        ],
        "layout": {
            "height": 120 + 22 * len(labels),
            # the left margin grows to the longest column name (automargin), not a fixed 220 px
            # that leaves a phone's plot 100 px wide
            "margin": {"l": 20, "r": 20, "t": 20, "b": 40},
            "xaxis": {"title": {"text": "% null"}, "range": [0, 100]},
            "yaxis": {"autorange": "reversed", "automargin": True},
        },
    }


def build_quality_context(
    report: QualityReport, run_id: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    groups = []
    for kind, title in KIND_TITLES.items():
        findings = [f for f in report.findings if f.kind == kind]
        groups.append({"kind": kind, "title": title, "findings": findings})
    fig = _null_figure(report)
    plots = []
    if fig is not None:
        plots.append(
            Plot.of(
                "plot-nulls",
                "Null rates",
                "Share of rows with no value, for every column that has any null. Many columns are "
                "optional by design (e.g. part_of, admit_source); the table below lists all.",
                fig,
            )
        )
    value_sets = [
        {
            "id": vs_id,
            "title": (vs := load_value_set(vs_id)).title,
            "system": vs.system,
            "binding": vs.binding,
            "codes": len(vs.codes),
        }
        for vs_id in sorted(report.value_sets)
    ]
    return {
        "title": f"Data quality — snapshot {(report.snapshot_id or 'lake')[:12]}",
        "report": report,
        "run_id": run_id or "not recorded",
        "groups": groups,
        "summary": report.summary(),
        "plots": plots,
        "value_sets": value_sets,
        "generated": (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "plotly_js": Markup(base.plotly_js()) if plots else Markup(""),
    }


def render_quality_report(
    report: QualityReport, run_id: str | None = None, now: datetime | None = None
) -> str:
    template = base._environment().get_template(TEMPLATE)
    return template.render(build_quality_context(report, run_id, now))


def write_quality_report(report: QualityReport, path: Path, run_id: str | None = None) -> Path:
    """Render the page and write it atomically to ``path`` (parents created); returns it."""
    return write_document(render_quality_report(report, run_id), path)
