"""A figure placed on a report page: its JSON and the size of the box it is drawn into.

Layout rule of every report page: a plot's box gets its height from the page's stylesheet
(one rule per plot) and its width from the page; the figure has no size of its own and fills
its box (plotly's autosize), so a window resize only ever changes a figure's width. A height
fixed in the figure's layout instead fights the box: plotly drops it at the first resize and
takes the box's height, and until then the figure overflows its box onto the next heading.

A plot may carry a second, narrow layout of the same traces (e.g. small multiples in one column
instead of three) with its own height; the page switches to it on viewports up to
:data:`NARROW_MAX_WIDTH_PX` wide and back above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from caretwin.reports.figures import Figure, script_json

DEFAULT_HEIGHT_PX = 360  # for a figure whose layout gives no height
NARROW_MAX_WIDTH_PX = 720  # viewport width up to which a plot's narrow layout is drawn


@dataclass(frozen=True)
class Sized:
    json: Markup  # script-safe JSON with no height or width in its layout
    height: int  # px of the box it fills


def _box_layout(layout: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """``layout`` set to fill its box, and the box's height: the layout's own, moved out."""
    layout = dict(layout)
    height = int(layout.pop("height", DEFAULT_HEIGHT_PX))
    layout.pop("width", None)
    layout["autosize"] = True
    return layout, height


def sized(fig: Figure) -> Sized:
    """``fig`` without its layout height (which becomes the box's) and set to fill its box."""
    layout, height = _box_layout(fig.get("layout", {}))
    return Sized(Markup(script_json({**fig, "layout": layout})), height)


def sized_layout(fig: Figure) -> Sized:
    """Only the layout of ``fig``, as :func:`sized` makes it."""
    layout, height = _box_layout(fig.get("layout", {}))
    return Sized(Markup(script_json(layout)), height)


@dataclass(frozen=True)
class Plot:
    id: str
    title: str
    caption: str
    json: Markup
    height: int = DEFAULT_HEIGHT_PX
    narrow: Sized | None = None  # a layout used instead on viewports up to NARROW_MAX_WIDTH_PX

    @classmethod
    def of(
        cls, pid: str, title: str, caption: str, fig: Figure, narrow: Figure | None = None
    ) -> Plot:
        """``narrow``: the same traces laid out for a phone; only its layout is kept."""
        wide = sized(fig)
        small = sized_layout(narrow) if narrow else None
        return cls(pid, title, caption, wide.json, wide.height, small)
