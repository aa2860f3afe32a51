"""Plotly figures of a report, serialised as JSON that is safe inside an inline ``<script>``.

The figures are plain plotly.js figure dicts; the page draws them with the one plotly.js bundle
it embeds. Text that reaches plotly (KPI labels, scenario and resource names) is HTML-escaped
because plotly.js interprets a subset of HTML tags in labels.
"""

from __future__ import annotations

import html
import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
# A horizontal legend above the plot area, where no axis title or tick label can meet it at any
# width (below it, a legend placed as a fraction of a short plot lands on the x axis title).
# It hangs from the figure's top edge (yref container): placed from the plot area instead, plotly
# leaves it where a wrapped two-row legend was after a resize, down over the plot's top.
LEGEND_ABOVE: dict[str, Any] = {
    "orientation": "h", "x": 0, "xanchor": "left", "y": 1, "yanchor": "top", "yref": "container",
}  # fmt: skip


def _text(s: str) -> str:
    return html.escape(s, quote=False)


def _num(x: float) -> float | None:
    """A JSON number with 6 significant digits (keeps the file small), or null."""
    return float(f"{x:.6g}") if math.isfinite(x) else None


def base_layout(**extra: Any) -> dict[str, Any]:
    """The look every report figure shares (font, white background, grid), plus ``extra``."""
    return {**_LAYOUT, "xaxis": dict(_AXIS), "yaxis": dict(_AXIS), **extra}


@dataclass(frozen=True)
class Panels:
    """Axes of panels stacked vertically that share one x axis, drawn under the last panel."""

    height: int  # px of the whole figure, which its box is given in CSS
    axes: dict[str, Any]  # xaxis, yaxis, xaxis2, ... ready for the layout
    tops: list[float]  # top edge of each panel, as a fraction of the plot area


def stacked_panels(n: int, *, panel_px: int, gap_px: int, top_px: int, bottom_px: int) -> Panels:
    """The layout make_subplots(rows=n, shared_xaxes=True) gives, with gaps set in px.

    Every panel's x axis is anchored to its own y axis (so it sits under that panel, not under
    the first) and matches the first one; only the bottom one shows tick labels. The figure's
    height follows from the panel count, so a box of that height keeps every panel at
    ``panel_px`` whatever the width.
    """
    height = top_px + bottom_px + n * panel_px + (n - 1) * gap_px
    plot_h = height - top_px - bottom_px
    axes: dict[str, Any] = {}
    tops = []
    for k in range(n):
        suffix = "" if k == 0 else str(k + 1)
        y1 = 1 - k * (panel_px + gap_px) / plot_h
        last = k == n - 1
        axes[f"xaxis{suffix}"] = {
            **_AXIS,
            "anchor": f"y{suffix}",
            "showticklabels": last,
            **({"matches": "x"} if k else {}),
        }
        axes[f"yaxis{suffix}"] = {
            **_AXIS,
            "domain": [max(0.0, y1 - panel_px / plot_h), y1],
            "anchor": f"x{suffix}",
        }
        tops.append(y1)
    return Panels(height, axes, tops)


def occupancy_figure(results: Sequence[SimulationResult]) -> Figure | None:
    """Daily mean units held, one small panel per resource (shared x, own y axis).

    The first result is drawn solid; the others are dotted and one legend click away. A
    scenario keeps its colour (the one it has in every other plot) across all panels.
    """
    series = [(result, result.occupancy_daily_mean()) for result in results]
    resources: list[str] = []
    for _, by_resource in series:
        resources += [name for name in by_resource if name not in resources]
    if not resources:
        return None
    n = len(resources)
    top_px, bottom_px = 34, 100
    panels = stacked_panels(n, panel_px=130, gap_px=42, top_px=top_px, bottom_px=bottom_px)
    plot_h = panels.height - top_px - bottom_px
    layout = base_layout(
        height=panels.height,
        margin={"l": 60, "r": 20, "t": top_px, "b": bottom_px},
        legend={"orientation": "h", "x": 0, "y": -62 / plot_h, "yanchor": "top"},
    )
    layout.update(panels.axes)
    layout[f"xaxis{'' if n == 1 else n}"]["title"] = {"text": "day of the run window"}
    data: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for k, resource in enumerate(resources):
        suffix = "" if k == 0 else str(k + 1)
        y1 = panels.tops[k]
        layout[f"yaxis{suffix}"].update(rangemode="tozero", nticks=4)
        annotations.append(
            {
                "text": f"<b>{_text(resource)}</b>",
                "x": 0,
                "y": y1,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
            }
        )
        for i, (result, by_resource) in enumerate(series):
            if resource not in by_resource:
                continue
            y = [_num(v) for v in np.asarray(by_resource[resource], dtype=float)]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": _text(result.scenario),
                    "legendgroup": _text(result.scenario),
                    "showlegend": k == 0,
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                    "x": list(range(1, len(y) + 1)),
                    "y": y,
                    "line": {
                        "color": PALETTE[i % len(PALETTE)],
                        "width": 1.5,
                        "dash": "solid" if i == 0 else "dot",
                    },
                    "visible": True if i == 0 else "legendonly",
                    "hovertemplate": (
                        f"{_text(resource)}, day %{{x}}: %{{y:.1f}}"
                        "<extra>%{fullData.name}</extra>"
                    ),
                }
            )
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


def histogram_kpi(result: SimulationResult) -> str | None:
    """The KPI whose distribution to draw: length-of-stay KPIs (name contains ``los``) first."""
    names = [k for k in result.summary if any(k in r.histograms for r in result.replications)]
    extra = {k for r in result.replications for k in r.histograms} - set(names)
    names += sorted(extra)
    los = [k for k in names if "los" in k.lower()]
    ranked = los + [k for k in names if k not in los]
    return ranked[0] if ranked else None


VISIBLE_QUANTILE = 0.995  # the distribution plot's x axis ends where this share is reached


@dataclass(frozen=True)
class Tail:
    scenario: str
    share: float  # % of patients beyond the visible x range
    longest: float  # lower edge of the last non-empty bin, h
    open_ended: bool  # the last non-empty bin is the catch-all last bin


@dataclass(frozen=True)
class Distribution:
    kpi: str
    shares: list[tuple[str, np.ndarray]]  # scenario -> % of patients per bin
    x_max: float  # right end of the visible x range: about the reference's 99.5th percentile
    tails: list[Tail]
    thresholds: list[tuple[float, str]]  # (hours, what it is) markers to draw


def _bins_to(share: np.ndarray, quantile: float) -> int:
    """Number of bins from 0 that hold at least ``quantile`` of the distribution."""
    cum = np.cumsum(share) / share.sum()
    return int(np.searchsorted(cum, quantile - 1e-9) + 1)


def distribution(
    results: Sequence[SimulationResult],
    kpi: str,
    thresholds: Mapping[str, float] | None = None,
) -> Distribution | None:
    """Pooled per-scenario histograms of ``kpi`` with the x range and tail to show.

    ``thresholds`` maps KPI names to limits in hours. A limit is drawn when it belongs to
    ``kpi`` itself or to a KPI whose histogram is the same as ``kpi``'s (e.g. the
    ``pct_over`` KPI measuring the same interval).
    """
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
    markers: list[tuple[float, str]] = []
    reference = next(r for r in results if r.scenario == shares[0][0])
    for name, value in (thresholds or {}).items():
        if not math.isfinite(value) or value <= 0:
            continue
        same = name == kpi or (
            any(name in r.histograms for r in reference.replications)
            and np.array_equal(reference.histogram(name), reference.histogram(kpi))
        )
        if same and all(value != v for v, _ in markers):
            meta = kpi_meta(results, name)
            markers.append((float(value), (meta.label if meta and meta.label else name)))
    full = HIST_BINS * HIST_BIN_H
    # the reference scenario (drawn by default, pooled over its replications) sets the range;
    # the other scenarios' tails beyond it are stated in the caption and on hover
    bins = _bins_to(shares[0][1], VISIBLE_QUANTILE)
    x_max = min(full, max(1.0, math.ceil(bins * HIST_BIN_H)))
    if markers:
        x_max = min(full, max(x_max, math.ceil(max(v for v, _ in markers) * 1.15)))
    tails = []
    for name, share in shares:
        last = int(np.flatnonzero(share).max())
        first_hidden = math.ceil(x_max / HIST_BIN_H - 1e-9)
        tails.append(
            Tail(
                scenario=name,
                share=float(share[first_hidden:].sum()),
                longest=last * HIST_BIN_H,
                open_ended=last == HIST_BINS - 1,
            )
        )
    return Distribution(kpi, shares, float(x_max), tails, markers)


def _hours(h: float) -> str:
    return f"{h:g} h"


def _share(tail: Tail) -> str:
    return f"{tail.share:.2g}%" if tail.share < 1 else f"{tail.share:.1f}%"


def _longest(tail: Tail) -> str:
    return f"{tail.longest:g} h or more" if tail.open_ended else f"about {tail.longest:g} h"


def tail_text(tail: Tail) -> str:
    """E.g. ``0.31% (longest 71.75 h or more)``: the share beyond the visible range."""
    if tail.share <= 0:
        return "none"
    return f"{_share(tail)} (longest {_longest(tail)})"


def distribution_figure(
    results: Sequence[SimulationResult],
    kpi: str,
    thresholds: Mapping[str, float] | None = None,
    dist: Distribution | None = None,
) -> Figure | None:
    """Share of patients per HIST_BIN_H bin, pooled over replications, per scenario.

    The x axis shows the range that holds 99.5% of the reference scenario's patients (zoom
    out to see the rest); an annotation at its right edge states the share beyond it.
    """
    dist = dist or distribution(results, kpi, thresholds)
    if dist is None:
        return None
    last = min(max(int(np.flatnonzero(s).max()) for _, s in dist.shares) + 1, HIST_BINS)
    x = [round((i + 0.5) * HIST_BIN_H, 6) for i in range(last)]
    ranges = [
        f"{i * HIST_BIN_H:g}–{(i + 1) * HIST_BIN_H:g} h"
        if i < HIST_BINS - 1
        else f"{i * HIST_BIN_H:g} h or more"
        for i in range(last)
    ]
    data = [
        {
            "type": "bar",
            "name": _text(name),
            "x": x,
            "y": [_num(v) for v in share[:last]],
            "customdata": ranges,
            "width": HIST_BIN_H,
            "opacity": 0.85 if i == 0 else 0.5,
            "marker": {"color": PALETTE[i % len(PALETTE)]},
            "visible": True if i == 0 else "legendonly",
            "hovertemplate": "%{customdata}: %{y:.2f}% of patients<extra>%{fullData.name}</extra>",
        }
        for i, (name, share) in enumerate(dist.shares)
    ]
    layout = base_layout(height=380, barmode="overlay", bargap=0, legend=LEGEND_ABOVE)
    layout["xaxis"].update(
        title={"text": f"hours (bins of {HIST_BIN_H:g} h)"}, range=[0, dist.x_max]
    )
    layout["yaxis"]["title"] = {"text": "% of patients"}
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for value, label in dist.thresholds:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": value,
                "x1": value,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#9a4a00", "width": 1.5, "dash": "dash"},
            }
        )
        annotations.append(
            {
                "text": _text(f"{_hours(value)} ({label})"),
                "x": value,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "xanchor": "left",
                "yanchor": "top",
                "xshift": 4,
                "showarrow": False,
                "font": {"color": "#9a4a00"},
            }
        )
    hidden = [t for t in dist.tails if t.share > 0]
    if hidden:
        ref = dist.tails[0]
        annotations.append(
            {
                # two short lines: one long line is wider than a phone's plot area
                "text": (
                    _text(f"{ref.scenario}: {_share(ref)} beyond {dist.x_max:g} h →")
                    + "<br>"
                    + _text(f"(longest {_longest(ref)})")
                    if ref.share > 0
                    else _text(f"other scenarios: values beyond {dist.x_max:g} h →")
                ),
                "x": 1,
                "y": 0.5,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "right",
                "yanchor": "middle",
                "showarrow": False,
                "font": {"color": "#5b6670", "size": 11},
                "bgcolor": "rgba(255,255,255,0.85)",
                "hovertext": "<br>".join(_text(f"{t.scenario}: {tail_text(t)}") for t in dist.tails)
                + "<br>Double-click the plot or zoom out to see the tail.",
            }
        )
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


TITLE_CHARS = 22  # per line of a small multiple's title: ~160 px of bold 12 px text


def kpi_bars_figure(
    results: Sequence[SimulationResult], columns: int = 3, row_px: int = 260
) -> Figure | None:
    """One small bar chart per KPI: scenario means with 95% CI error bars."""
    names = kpi_names(results)
    if not names:
        return None
    cols = min(columns, len(names))
    rows = math.ceil(len(names) / cols)
    gap_x, gap_y = 0.08, min(0.12, 0.5 / rows)
    width = (1 - gap_x * (cols - 1)) / cols
    height = (1 - gap_y * (rows - 1)) / rows
    layout = base_layout(height=max(300, row_px * rows), showlegend=False)
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
        # wrapped: on one line a long label runs into its neighbours' in a narrow column
        lines = textwrap.wrap(label, TITLE_CHARS, break_long_words=False) or [label]
        annotations.append(
            {
                "text": "<b>" + "<br>".join(_text(line) for line in lines) + "</b>",
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
