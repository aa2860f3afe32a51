"""The forecast page: one self-contained HTML file with the census fan chart of every pool.

It reuses the simulation report's building blocks (the inline plotly.js bundle, the script-safe
figure JSON, the palette and the decision-support disclaimer) and adds only what is particular
to a forecast: bands of the 50% and 90% prediction intervals around the median, the capacity
line, and the table of the same numbers for readers without JavaScript.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from markupsafe import Markup

from caretwin.forecast.run import ForecastResult
from caretwin.reports import DISCLAIMER
from caretwin.reports.figures import PALETTE, base_layout, stacked_panels
from caretwin.reports.output import write_document
from caretwin.reports.plot import Plot
from caretwin.reports.report import plotly_js, template


def _x(result: ForecastResult) -> list[Any]:
    """Hour marks as local date-times when the state gave ``as_of``, else hours since it."""
    if result.as_of is None:
        return list(range(result.hours + 1))
    t0 = datetime.fromisoformat(result.as_of)
    return [(t0 + timedelta(hours=h)).isoformat() for h in range(result.hours + 1)]


def forecast_figure(result: ForecastResult) -> dict[str, Any]:
    """A fan chart per pool (own y axis), stacked vertically over one x axis at the bottom."""
    q = result.quantiles()
    x = _x(result)
    n = len(result.resources)
    panels = stacked_panels(n, panel_px=150, gap_px=26, top_px=20, bottom_px=56)
    layout = base_layout(
        height=panels.height,
        margin={"l": 60, "r": 20, "t": 20, "b": 56},
        showlegend=False,
        hovermode="x",
    )
    layout.update(panels.axes)
    data: list[dict[str, Any]] = []
    for k, name in enumerate(result.resources):
        sfx = "" if k == 0 else str(k + 1)
        color = PALETTE[k % len(PALETTE)]
        axes = {"xaxis": f"x{sfx}", "yaxis": f"y{sfx}"}
        label = html.escape(name, quote=False)
        for lo, hi, alpha, what in (("p05", "p95", 0.15, "90%"), ("p25", "p75", 0.35, "50%")):
            data.append(
                {
                    "type": "scatter",
                    "x": x,
                    "y": q[name][lo],
                    "mode": "lines",
                    "line": {"width": 0},
                    "hoverinfo": "skip",
                    **axes,
                }
            )
            data.append({"type": "scatter", "x": x, "y": q[name][hi], "mode": "lines",
                         "fill": "tonexty", "line": {"width": 0}, "opacity": alpha,
                         "fillcolor": _rgba(color, alpha), "name": f"{label} {what}",
                         "hoverinfo": "skip", **axes})  # fmt: skip
        data.append({"type": "scatter", "x": x, "y": q[name]["median"], "mode": "lines",
                     "line": {"color": color, "width": 2}, "name": f"{label} median",
                     "hovertemplate": f"{label}: %{{y:.0f}}<extra></extra>", **axes})  # fmt: skip
        cap = result.capacities[k]
        data.append({"type": "scatter", "x": [x[0], x[-1]], "y": [cap, cap], "mode": "lines",
                     "line": {"color": "#7f7f7f", "dash": "dash", "width": 1},
                     "name": "capacity", "hoverinfo": "skip", **axes})  # fmt: skip
        layout[f"yaxis{sfx}"].update(rangemode="tozero", nticks=4, title={"text": label})
    layout[f"xaxis{'' if n == 1 else n}"]["title"] = {
        "text": "local time" if result.as_of else "hours since the state"
    }
    return {"data": data, "layout": layout}


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def table_rows(result: ForecastResult, every: int) -> list[list[str]]:
    """Hours 0, every, 2·every, ... and the last, with "median [p25–p75] (p05–p95)" cells."""
    q = result.quantiles()
    hours = sorted({*range(0, result.hours + 1, max(1, every)), result.hours})
    rows = []
    for h in hours:
        cells = [str(h)]
        for name in result.resources:
            s = q[name]
            cells.append(
                f"{s['median'][h]:.0f} [{s['p25'][h]:.0f}–{s['p75'][h]:.0f}] "
                f"({s['p05'][h]:.0f}–{s['p95'][h]:.0f})"
            )
        rows.append(cells)
    return rows


def write_forecast_page(result: ForecastResult, path: Path, run_id: str) -> Path:
    """Render the page and write it atomically to ``path``."""
    caption = (
        "Units held per pool at each hour mark (hour 0 is the state itself): the line is the "
        "median across replications, the dark band the 50% prediction interval (p25–p75), "
        "the light band the 90% interval (p05–p95); dashed: capacity. Beds held by boarding "
        "or blocked patients count as held."
    )
    plot = Plot.of("plot-forecast", "Census forecast", caption, forecast_figure(result))
    page = template("forecast.html.j2").render(
        title=f"{result.model_name}: {result.hours} h census forecast",
        meta=[
            ("run", run_id),
            ("scenario", result.scenario),
            ("state as of", result.as_of or f"hour {result.start_hour:g} of the week"),
            ("replications", result.replications),
            ("seed", result.seed),
            ("model hash", result.model_hash),
        ],
        disclaimer=DISCLAIMER,
        plots=[plot],
        resources=result.resources,
        rows=table_rows(result, 1),
        plotly_js=Markup(plotly_js()),
    )
    return write_document(page, path)
