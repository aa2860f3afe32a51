"""Every report kind laid out in headless Chromium at phone to wide-screen widths, after resizes.

Each page (simulation report with two scenarios, experiment report, forecast page, data-quality
report, all from small seeded runs) is opened at 1280 px and then resized to 900, 730, 390, 1440
and 1920 px; a page with a phone layout is also opened fresh at 390 px. At every width the
geometry must hold: no plot box overlaps another plot or any heading, caption, paragraph or
table; each figure's svg lies inside its box; the page never scrolls sideways; a figure's
legend, axis titles and panel titles do not overlap each other; and in the stacked-panel
figures (forecast, occupancy) the x axis labels sit under the last panel. Screenshots at
390/900/1440 px go to ``$CARETWIN_SCREENSHOTS`` or, when it exists, ``test-results/screenshots/``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.quality_helpers import base_resources, defect_encounters, write_ndjson
from tests.test_experiment_sim import EXP, queue_model
from tests.test_reports import BASE, LABELS, SURGE, make_result, report_input

from caretwin.experiment import run_experiment_spec, spec_from_data
from caretwin.forecast import run_forecast, state_at
from caretwin.forecast.report import write_forecast_page
from caretwin.ingest import ingest_paths
from caretwin.lake import Lake
from caretwin.model import REFERENCE_HOSPITAL, definition_from_data, example_path, load_definition
from caretwin.quality import assess
from caretwin.reports import write_report
from caretwin.reports.experiment import write_experiment_report
from caretwin.reports.quality import write_quality_report
from caretwin.sim.runner import trace_run

RESIZES = [900, 730, 390, 1440, 1920]  # after opening at 1280 px; 730: narrowest 3 columns
SCREENSHOT_WIDTHS = {390, 900, 1440}
STACKED = {"plot-forecast", "plot-occupancy"}  # panels over one shared x axis
ROOT = Path(__file__).resolve().parents[1]

# Geometry of the page in CSS px, page coordinates (scroll-independent).
MEASURE = """() => {
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height};
  };
  const seen = (b) => b.w > 0 && b.h > 0;
  const plots = [...document.querySelectorAll(".js-plotly-plot")].map((p) => {
    const svg = p.querySelector("svg.main-svg");
    const labels = [];
    const add = (kind, el) => { const b = box(el); if (seen(b)) labels.push({kind, ...b}); };
    p.querySelectorAll("g.legend").forEach((e) => add("legend", e));
    p.querySelectorAll("text.annotation-text")
      .forEach((e) => add("annotation " + e.textContent, e));
    p.querySelectorAll('g[class^="g-x"][class$="title"] text').forEach((e) => add("x title", e));
    p.querySelectorAll('g[class^="g-y"][class$="title"] text').forEach((e) => add("y title", e));
    const panels = [...p.querySelectorAll("g.draglayer rect.nsewdrag")].map(box).filter(seen);
    // tick labels of x axes: g.xtick, g.x2tick, ...
    const ticks = [...p.querySelectorAll('g[class^="x"][class$="tick"] text')]
      .map(box).filter(seen);
    return {id: p.id, box: box(p), svg: svg ? box(svg) : null, labels, panels, ticks};
  });
  const blocks = [...document.querySelectorAll("h1, h2, h3, figcaption, p, table, dl")]
    .map((e) => ({kind: `${e.tagName.toLowerCase()} ${e.textContent.trim().slice(0, 30)}`,
                  ...box(e)}))
    .filter(seen);
  return {width: innerWidth, scroll_width: document.documentElement.scrollWidth, plots, blocks};
}"""

# Every figure drawn (plotly marks its divs .js-plotly-plot) at its box's current size; plotly
# resizes 100 ms after the last resize.
SETTLED = """() => [...document.querySelectorAll(".js-plotly-plot")].every((p) => {
  const svg = p.querySelector("svg.main-svg");
  return svg && Math.abs(svg.getBoundingClientRect().width - p.clientWidth) < 1
             && Math.abs(svg.getBoundingClientRect().height - p.clientHeight) < 1;
})"""

DRAWN = """() => {
  const drawn = document.querySelectorAll(".js-plotly-plot").length;
  return drawn > 0 && drawn >= document.querySelectorAll("script.figure-data").length;
}"""


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @classmethod
    def of(cls, d: dict[str, Any]) -> Rect:
        return cls(d["x"], d["y"], d["w"], d["h"])

    def overlaps(self, o: Rect, tol: float = 0.5) -> bool:
        return (
            self.x < o.x + o.w - tol
            and o.x < self.x + self.w - tol
            and self.y < o.y + o.h - tol
            and o.y < self.y + self.h - tol
        )

    def contains(self, o: Rect, tol: float = 1.0) -> bool:
        return (
            o.x >= self.x - tol
            and o.y >= self.y - tol
            and o.x + o.w <= self.x + self.w + tol
            and o.y + o.h <= self.y + self.h + tol
        )


def layout_problems(m: dict[str, Any]) -> list[str]:
    """Everything wrong with one measured page, as readable lines (empty when all is well)."""
    out = []
    if m["scroll_width"] > m["width"]:
        out.append(f"page scrolls sideways: {m['scroll_width']} px wide in {m['width']}")
    plots = m["plots"]
    for i, p in enumerate(plots):
        pbox = Rect.of(p["box"])
        if p["svg"] is None:
            out.append(f"{p['id']}: not drawn")
            continue
        if not pbox.contains(Rect.of(p["svg"])):
            out.append(f"{p['id']}: svg {p['svg']} outside its box {p['box']}")
        if pbox.x + pbox.w > m["width"]:
            out.append(f"{p['id']}: box {p['box']} wider than the viewport")
        out += [
            f"{p['id']} overlaps {q['id']}"
            for q in plots[i + 1 :]
            if pbox.overlaps(Rect.of(q["box"]))
        ]
        out += [
            f"{p['id']} overlaps {b['kind']!r}" for b in m["blocks"] if pbox.overlaps(Rect.of(b))
        ]
        labels = p["labels"]
        for j, a in enumerate(labels):
            out += [
                f"{p['id']}: {a['kind']!r} overlaps {b['kind']!r}"
                for b in labels[j + 1 :]
                if Rect.of(a).overlaps(Rect.of(b))
            ]
        if p["id"] in STACKED:
            bottom = max(r["y"] + r["h"] for r in p["panels"])
            if not p["ticks"]:
                out.append(f"{p['id']}: no x axis labels")
            high = [t for t in p["ticks"] if t["y"] < bottom - 1]
            if high:
                out.append(f"{p['id']}: {len(high)} x labels above the last panel's bottom")
    return out


def summary(m: dict[str, Any]) -> str:
    boxes = ", ".join(f"{p['box']['w']:.0f}x{p['box']['h']:.0f}" for p in m["plots"])
    return f"{m['width']}px: {len(m['plots'])} plots {boxes}"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One page of every report kind, from small seeded runs (about a second each)."""
    out = tmp_path_factory.mktemp("layout")
    # RH1's longest KPI label, whose title must not run into its neighbours' in three columns
    labels = {**LABELS, "ed_wait_mean_h": ("ED boarding (bed request to bed assigned)", "h")}
    results = {
        name: make_result(name, kpis, labels)
        for name, kpis in (("baseline", BASE), ("surge", SURGE))
    }
    pages = {"simulation": write_report(report_input(results=results), out / "simulation.html")}
    defn = definition_from_data(queue_model(5, 4.0, EXP, days=1, warmup=0.5))
    spec = spec_from_data(
        yaml.safe_load(
            """
            model: inline
            replications: 3
            seed: 9
            sweeps: [{path: resources.server.capacity, from: 5, to: 7, step: 1}]
            target: {kpi: wait, below: 0.1, vary: resources.server.capacity}
            advisors:
              replications: {kpi: busy, half_width: 0.05, max_replications: 10}
              warmup: {resource: server, window: 1, run_days: 2}
            """
        )
    )
    pages["experiment"] = write_experiment_report(
        run_experiment_spec(spec, defn), out / "experiment.html"
    )
    rh1 = load_definition(example_path(REFERENCE_HOSPITAL))
    trace = trace_run(rh1, 7, 24 * 29.5)
    result = run_forecast(rh1, state_at(trace, 24 * 29.4), 24, replications=20, seed=3)
    pages["forecast"] = write_forecast_page(result, out / "forecast.html", "run-layout")
    resources = base_resources()
    resources["Encounter"] += defect_encounters()
    ingest = ingest_paths(out / "lake", [write_ndjson(out / "in", resources)])
    lake = Lake(out / "lake")
    quality = assess(lake, ingest.snapshot_id, lake.data_hash())
    pages["quality"] = write_quality_report(quality, out / "quality.html", run_id="r-1")
    return pages


def _screenshot_dir() -> Path | None:
    named = os.environ.get("CARETWIN_SCREENSHOTS")
    if named:
        Path(named).mkdir(parents=True, exist_ok=True)
        return Path(named)
    default = ROOT / "test-results" / "screenshots"
    return default if default.is_dir() else None


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Callable[[Path, int], Any]]:
    pages: list[Any] = []

    def open_at(path: Path, width: int) -> Any:
        page = chromium.new_page(viewport={"width": width, "height": 900})
        pages.append(page)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path.as_uri())
        page.wait_for_function(DRAWN, timeout=15_000)
        _settle(page)
        assert errors == [], errors
        return page

    yield open_at
    for page in pages:
        page.close()


def _settle(page: Any) -> None:
    """Wait for the figures to follow their boxes; measure anyway if they never do."""
    from playwright.sync_api import TimeoutError as Timeout  # only here: may be missing

    page.wait_for_timeout(150)  # plotly waits 100 ms after the last resize
    with contextlib.suppress(Timeout):  # a figure that never fits its box is reported later
        page.wait_for_function(SETTLED, timeout=3_000)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["simulation", "experiment", "forecast", "quality"])
def test_plots_reflow_at_every_width_after_resizes(
    kind: str,
    reports: dict[str, Path],
    open_page: Callable[[Path, int], Any],
    report_figure: Callable[[str], None],
) -> None:
    shots = _screenshot_dir()
    page = open_page(reports[kind], 1280)
    problems, seen = [], []
    for width in RESIZES:
        page.set_viewport_size({"width": width, "height": 900})
        _settle(page)
        m = page.evaluate(MEASURE)
        problems += [f"{width}px after resize: {p}" for p in layout_problems(m)]
        if width in SCREENSHOT_WIDTHS:
            seen.append(summary(m))
            if shots is not None:
                page.screenshot(path=str(shots / f"{kind}-{width}.png"), full_page=True)
    if "figure-narrow-layout" in reports[kind].read_text(encoding="utf-8"):
        # opened on a phone, a plot with a narrow layout must draw that one first (a page load
        # costs seconds here, so only pages that have one are opened twice)
        phone = open_page(reports[kind], 390)
        problems += [f"390px fresh: {p}" for p in layout_problems(phone.evaluate(MEASURE))]
    report_figure(f"report layout, {kind}: " + "; ".join(seen))
    assert problems == []


def test_layout_check_sees_the_old_faults() -> None:
    """The checker itself: overflowing svg, overlapping boxes and an axis between panels."""
    plot = {
        "id": "plot-forecast",
        "box": {"x": 20, "y": 100, "w": 860, "h": 300},
        "svg": {"x": 20, "y": 100, "w": 860, "h": 1010},  # the figure kept its height
        "labels": [],
        "panels": [
            {"x": 80, "y": 120, "w": 800, "h": 150},
            {"x": 80, "y": 300, "w": 800, "h": 150},
        ],
        "ticks": [{"x": 80, "y": 272, "w": 8, "h": 12}],  # under the first panel
    }
    heading = {"kind": "h2 Numbers", "x": 20, "y": 420, "w": 860, "h": 30}
    m = {"width": 900, "scroll_width": 900, "plots": [plot], "blocks": [heading]}
    found = layout_problems(m)
    assert any("outside its box" in p for p in found)
    assert any("x labels above" in p for p in found)
    m["plots"] = [plot, {**plot, "id": "plot-b", "box": {**plot["box"], "y": 300}}]
    m["blocks"] = [{**heading, "y": 150}]
    found = layout_problems(m)
    assert "plot-forecast overlaps plot-b" in found
    assert "plot-forecast overlaps 'h2 Numbers'" in found
