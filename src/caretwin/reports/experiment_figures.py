"""Plotly figures of the experiment report (plain figure dicts, labels HTML-escaped).

Built with the simulation report's figure helpers (layout, palette, number rounding, escaping)
so both reports look and behave alike.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from caretwin.experiment import ExperimentResult
from caretwin.experiment.variants import point_name
from caretwin.reports.figures import LEGEND_ABOVE, PALETTE, _num, _text, base_layout

__all__ = [
    "differences_figure",
    "replications_figure",
    "search_figure",
    "sweep_figure",
    "warmup_figure",
]

Figure = dict[str, Any]


def _band(x: list[Any], lo: list[float], hi: list[float], colour: str, group: str) -> Figure:
    """A closed polygon between the CI bounds (drawn under its line)."""
    return {
        "type": "scatter",
        "x": x + x[::-1],
        "y": [_num(v) for v in hi] + [_num(v) for v in lo[::-1]],
        "fill": "toself",
        "fillcolor": colour + "33",
        "line": {"width": 0},
        "hoverinfo": "skip",
        "showlegend": False,
        "legendgroup": group,
    }


def sweep_figure(result: ExperimentResult, kpi: str) -> Figure | None:
    """KPI against the first sweep axis; one line (with CI band) per other-axis combination."""
    if not result.sweep_axes:
        return None
    (path, xs), others = result.sweep_axes[0], result.sweep_axes[1:]
    data: list[Figure] = []
    combos = list(itertools.product(*[vals for _, vals in others])) or [()]
    for i, combo in enumerate(combos):
        fixed = dict(zip([p for p, _ in others], combo, strict=True))
        colour = PALETTE[i % len(PALETTE)]
        name = point_name(fixed) or "sweep"
        means, his, los = [], [], []
        for x in xs:
            s = result.variant(point_name({path: x, **fixed})).result.summary[kpi]
            half = s.ci95 if math.isfinite(s.ci95) else 0.0
            means.append(s.mean)
            los.append(s.mean - half)
            his.append(s.mean + half)
        data.append(_band(list(xs), los, his, colour, name))
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": list(xs),
                "y": [_num(m) for m in means],
                "name": _text(name),
                "legendgroup": name,
                "line": {"color": colour},
            }
        )
    shapes = [_hline(result.baseline.result.summary[kpi].mean, "#555555", "dot")]
    target = result.spec.target
    if target is not None and target.kpi == kpi:
        shapes.append(_hline(target.goal, "#d62728", "dash"))
    return {
        "data": data,
        "layout": base_layout(
            height=380,
            shapes=shapes,
            legend=LEGEND_ABOVE,
            xaxis={"title": {"text": _text(path)}, "gridcolor": "#e5e5e5"},
            yaxis={"title": {"text": _text(_kpi_title(result, kpi))}, "gridcolor": "#e5e5e5"},
        ),
    }


def _hline(y: float, colour: str, dash: str) -> Figure:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "y0": _num(y),
        "y1": _num(y),
        "line": {"color": colour, "dash": dash, "width": 1.5},
    }


def _vline(x: float, colour: str) -> Figure:
    return {
        "type": "line",
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "x0": x,
        "x1": x,
        "line": {"color": colour, "dash": "dash", "width": 1.5},
    }


def _kpi_title(result: ExperimentResult, kpi: str) -> str:
    s = result.baseline.result.summary[kpi]
    return f"{s.label or kpi} ({s.unit})" if s.unit else (s.label or kpi)


def differences_figure(result: ExperimentResult, kpi: str) -> Figure | None:
    """Each variant's difference from baseline with its paired and its unpaired 95% interval."""
    rows = [v for v in result.variants[1:] if kpi in v.comparisons]
    if not rows:
        return None
    names = [_text(v.variant.name) for v in rows]
    comps = [v.comparisons[kpi] for v in rows]
    data = []
    for label, attr, colour, offset in (
        ("paired (common random numbers)", "paired_ci95", "#1f77b4", -0.15),
        ("unpaired (as if independent)", "unpaired_ci95", "#ff7f0e", 0.15),
    ):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": label,
                "y": [i + offset for i in range(len(rows))],
                "x": [_num(c.difference) for c in comps],
                "error_x": {
                    "type": "data",
                    "array": [_num(getattr(c, attr)) or 0.0 for c in comps],
                    "visible": True,
                },
                "marker": {"color": colour},
                "text": names,
                "hovertemplate": "%{text}: %{x:.3g}<extra></extra>",
            }
        )
    return {
        "data": data,
        "layout": base_layout(
            height=max(260, 60 + 34 * len(rows)),
            shapes=[_vline(0, "#555555")],
            xaxis={"title": {"text": f"difference from baseline: {_text(kpi)}"}, "zeroline": True},
            yaxis={
                "tickvals": list(range(len(rows))),
                "ticktext": names,
                "autorange": "reversed",
                "automargin": True,
            },
            legend=LEGEND_ABOVE,
        ),
    }


def replications_figure(result: ExperimentResult) -> Figure | None:
    adv = result.replication_advice
    if adv is None or not adv.path:
        return None
    ys = [p.relative if adv.relative else p.half_width for p in adv.path]
    shapes = [_hline(adv.target, "#d62728", "dash")]
    if adv.recommended is not None:
        shapes.append(_vline(adv.recommended, "#2ca02c"))
    what = "relative 95% CI half-width" if adv.relative else "95% CI half-width"
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [p.n for p in adv.path],
                "y": [_num(y) for y in ys],
                "name": what,
            }
        ],
        "layout": base_layout(
            height=340,
            shapes=shapes,
            xaxis={"title": {"text": "replications"}},
            yaxis={"title": {"text": f"{what}: {_text(adv.kpi)}"}, "rangemode": "tozero"},
        ),
    }


def warmup_figure(result: ExperimentResult) -> Figure | None:
    adv = result.warmup_advice
    if adv is None:
        return None
    days = list(range(len(adv.mean_series)))
    shapes = [_hline(adv.level, "#7f7f7f", "dot")]
    if adv.truncation_days is not None:
        shapes.append(_vline(adv.truncation_days, "#2ca02c"))
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": days,
                "y": [_num(v) for v in adv.mean_series],
                "name": "mean across replications",
                "line": {"color": "#9ecae1", "width": 1},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": days[: len(adv.moving_average)],
                "y": [_num(v) for v in adv.moving_average],
                "name": f"moving average (w = {adv.window})",
                "line": {"color": "#1f77b4", "width": 2.5},
            },
        ],
        "layout": base_layout(
            height=360,
            shapes=shapes,
            xaxis={"title": {"text": "day from an empty start"}},
            yaxis={"title": {"text": f"{_text(adv.resource)} units held"}, "rangemode": "tozero"},
            legend=LEGEND_ABOVE,
        ),
    }


def search_figure(result: ExperimentResult) -> Figure | None:
    if not result.searches:
        return None
    data = []
    for i, s in enumerate(result.searches):
        probes = sorted(s.probes, key=lambda p: p.value)
        data.append(
            {
                "type": "scatter",
                "mode": "markers+lines",
                "name": _text(point_name(s.fixed) or s.vary),
                "x": [p.value for p in probes],
                "y": [_num(p.mean) for p in probes],
                "error_y": {"type": "data", "array": [_num(p.ci95) or 0.0 for p in probes]},
                "marker": {"color": PALETTE[i % len(PALETTE)]},
            }
        )
    first = result.searches[0]
    return {
        "data": data,
        "layout": base_layout(
            height=360,
            shapes=[_hline(first.goal, "#d62728", "dash")],
            xaxis={"title": {"text": _text(first.vary)}},
            yaxis={"title": {"text": _text(_kpi_title(result, first.kpi))}},
        ),
    }
