"""Plotly figures of a report, serialised as JSON that is safe inside an inline ``<script>``.

The figures are plain plotly.js figure dicts; the page draws them with the one plotly.js bundle
it embeds. Text that reaches plotly (KPI labels, scenario and resource names) is HTML-escaped
because plotly.js interprets a subset of HTML tags in labels.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from caretwin.reports.tables import kpi_meta, kpi_names
from caretwin.sim.result import HIST_BIN_H, HIST_BINS, SimulationResult

Figure = dict[str, Any]

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip

_LAYOUT: dict[str, Any] = {
    "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12},
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
    "hovermode": "closest",
}
_AXIS = {"gridcolor": "#e5e5e5", "zeroline": False, "automargin": True}


def _text(s: str) -> str:
    return html.escape(s, quote=False)


def _num(x: float) -> float | None:
    """A JSON number with 6 significant digits (keeps the file small), or null."""
    return float(f"{x:.6g}") if math.isfinite(x) else None


def _layout(**extra: Any) -> dict[str, Any]:
    return {**_LAYOUT, "xaxis": dict(_AXIS), "yaxis": dict(_AXIS), **extra}


def occupancy_figure(results: Sequence[SimulationResult]) -> Figure | None:
    """Daily mean units held per resource; the first result drawn, the others one click away."""
    data: list[dict[str, Any]] = []
    colours: dict[str, str] = {}
    for i, result in enumerate(results):
        for resource, series in result.occupancy_daily_mean().items():
            colour = colours.setdefault(resource, PALETTE[len(colours) % len(PALETTE)])
            y = [_num(v) for v in np.asarray(series, dtype=float)]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": _text(f"{result.scenario}: {resource}"),
                    "legendgroup": _text(result.scenario),
                    "x": list(range(1, len(y) + 1)),
                    "y": y,
                    "line": {
                        "color": colour,
                        "width": 2 if i == 0 else 1.5,
                        "dash": "solid" if i == 0 else "dot",
                    },
                    "visible": True if i == 0 else "legendonly",
                    "hovertemplate": "day %{x}: %{y:.1f}<extra>%{fullData.name}</extra>",
                }
            )
    if not data:
        return None
    layout = _layout(height=420, legend={"orientation": "h", "y": -0.2})
    layout["xaxis"]["title"] = {"text": "day of the run window"}
    layout["yaxis"]["title"] = {"text": "mean units held (across replications)"}
    return {"data": data, "layout": layout}


def histogram_kpi(result: SimulationResult) -> str | None:
    """The KPI whose distribution to draw: length-of-stay KPIs (name contains ``los``) first."""
    names = [k for k in result.summary if any(k in r.histograms for r in result.replications)]
    extra = {k for r in result.replications for k in r.histograms} - set(names)
    names += sorted(extra)
    los = [k for k in names if "los" in k.lower()]
    ranked = los + [k for k in names if k not in los]
    return ranked[0] if ranked else None


def distribution_figure(results: Sequence[SimulationResult], kpi: str) -> Figure | None:
    """Share of patients per HIST_BIN_H bin, pooled over replications, per scenario."""
    shares: list[tuple[str, np.ndarray]] = []
    for result in results:
        if not any(kpi in r.histograms for r in result.replications):
            continue
        counts = np.asarray(result.histogram(kpi), dtype=float)
        total = counts.sum()
        if total > 0:
            shares.append((result.scenario, 100.0 * counts / total))
    if not shares:
        return None
    nonzero = [int(np.flatnonzero(s).max()) for _, s in shares]
    last = min(max(nonzero) + 1, HIST_BINS)
    x = [round((i + 0.5) * HIST_BIN_H, 6) for i in range(last)]
    data = [
        {
            "type": "bar",
            "name": _text(name),
            "x": x,
            "y": [_num(v) for v in share[:last]],
            "width": HIST_BIN_H,
            "opacity": 0.85 if i == 0 else 0.5,
            "marker": {"color": PALETTE[i % len(PALETTE)]},
            "visible": True if i == 0 else "legendonly",
            "hovertemplate": "%{x:.2f} h: %{y:.2f}%<extra>%{fullData.name}</extra>",
        }
        for i, (name, share) in enumerate(shares)
    ]
    layout = _layout(
        height=380, barmode="overlay", bargap=0, legend={"orientation": "h", "y": -0.2}
    )
    layout["xaxis"]["title"] = {"text": f"hours (bins of {HIST_BIN_H:g} h)"}
    layout["yaxis"]["title"] = {"text": "% of patients"}
    return {"data": data, "layout": layout}


def kpi_bars_figure(results: Sequence[SimulationResult], columns: int = 3) -> Figure | None:
    """One small bar chart per KPI: scenario means with 95% CI error bars."""
    names = kpi_names(results)
    if not names:
        return None
    cols = min(columns, len(names))
    rows = math.ceil(len(names) / cols)
    gap_x, gap_y = 0.08, min(0.12, 0.5 / rows)
    width = (1 - gap_x * (cols - 1)) / cols
    height = (1 - gap_y * (rows - 1)) / rows
    layout = _layout(height=max(300, 260 * rows), showlegend=False)
    layout.pop("xaxis")
    layout.pop("yaxis")
    data: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for k, name in enumerate(names):
        row, col = divmod(k, cols)
        suffix = "" if k == 0 else str(k + 1)
        x0 = col * (width + gap_x)
        y1 = 1 - row * (height + gap_y)
        layout[f"xaxis{suffix}"] = {**_AXIS, "domain": [x0, x0 + width], "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {
            **_AXIS,
            "domain": [max(0.0, y1 - height), y1],
            "anchor": f"x{suffix}",
            "rangemode": "tozero",
        }
        present = [r for r in results if name in r.summary]
        meta = kpi_meta(results, name)
        unit = f" ({meta.unit})" if meta and meta.unit else ""
        data.append(
            {
                "type": "bar",
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "x": [_text(r.scenario) for r in present],
                "y": [_num(r.summary[name].mean) for r in present],
                "error_y": {
                    "type": "data",
                    "array": [_num(r.summary[name].ci95) or 0.0 for r in present],
                    "visible": True,
                },
                "marker": {"color": [PALETTE[i % len(PALETTE)] for i in range(len(present))]},
                "customdata": [_num(r.summary[name].ci95) for r in present],
                "hovertemplate": "%{x}: %{y:.3g} ± %{customdata:.2g}<extra></extra>",
            }
        )
        label = (meta.label if meta and meta.label else name) + unit
        annotations.append(
            {
                "text": f"<b>{_text(label)}</b>",
                "x": x0 + width / 2,
                "y": y1,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
            }
        )
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


def script_json(value: Any) -> str:
    """JSON that cannot end the surrounding ``<script>`` element or open an HTML comment."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
