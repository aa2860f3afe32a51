"""The self-contained HTML report: sections, formatting, escaping, offline-ness, structure."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from caretwin.errors import CareTwinError, DataError
from caretwin.reports import ReportInput, figures, provenance, render_report, tables, write_report
from caretwin.sim.result import HIST_BINS, ReplicationResult, SimulationResult, summarise

LABELS = {
    "ed_los_mean_h": ("ED length of stay", "h"),
    "ed_wait_mean_h": ("ED wait", "h"),
    "icu_occupancy_mean": ("ICU beds occupied", "beds"),
}
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


def make_result(
    scenario: str,
    kpis: list[dict[str, float]],
    labels: dict[str, tuple[str, str]] = LABELS,
    days: int = 5,
) -> SimulationResult:
    reps = []
    for i, k in enumerate(kpis):
        hist = np.zeros(HIST_BINS)
        hist[8:20] = np.arange(12) + i  # stays of 2..5 h
        reps.append(
            ReplicationResult(
                replication=i,
                kpis=k,
                events=1000 + i,
                occupancy_daily={
                    "icu_bed": np.linspace(8, 10, days) + i,
                    "ward_bed": np.full(days, 30.0 + i),
                },
                histograms={"ed_wait_mean_h": hist / 2, "ed_los_mean_h": hist},
            )
        )
    return SimulationResult(
        model_name="rh1",
        model_hash="ab" * 32,
        scenario=scenario,
        seed=42,
        replications=reps,
        summary=summarise(reps, labels),
        wall_seconds=1.25,
    )


BASE = [
    {"ed_los_mean_h": 4.0, "ed_wait_mean_h": 0.50, "icu_occupancy_mean": 9.0},
    {"ed_los_mean_h": 4.2, "ed_wait_mean_h": 0.55, "icu_occupancy_mean": 9.5},
    {"ed_los_mean_h": 4.4, "ed_wait_mean_h": 0.60, "icu_occupancy_mean": 10.0},
]
SURGE = [  # LOS clearly higher, wait about the same
    {"ed_los_mean_h": 6.0, "ed_wait_mean_h": 0.52, "icu_occupancy_mean": 11.0},
    {"ed_los_mean_h": 6.1, "ed_wait_mean_h": 0.58, "icu_occupancy_mean": 11.5},
    {"ed_los_mean_h": 6.2, "ed_wait_mean_h": 0.61, "icu_occupancy_mean": 12.0},
]
CALIBRATION = {
    "source": "lake 2025-01..2025-12",
    "fits": {
        "ed.treatment.duration": {
            "family": "lognormal",
            "params": {"mu": 0.4, "sigma": 0.6},
            "aic": {"gamma": 1012.3, "lognormal": 1003.1, "exponential": 1100.0},
            "ks": {"statistic": 0.031, "pvalue": 0.42},
            "n": 5123,
        }
    },
}
MANIFEST = {
    "run_id": "run-0007",
    "version": "0.1.0",
    "seed": 42,
    "created_at": "2026-02-01T10:00:00Z",
    "timings": {"simulate_s": 12.5},
}


def report_input(**kw: Any) -> ReportInput:
    args: dict[str, Any] = {
        "title": "RH1 surge study",
        "model_name": "rh1",
        "model_hash": "ab" * 32,
        "results": {
            "baseline": make_result("baseline", BASE),
            "surge": make_result("surge", SURGE),
        },
        "observed": {"ed_los_mean_h": 4.3, "icu_occupancy_mean": 14.0, "unknown_kpi": 1.0},
        "observed_label": "held-out month 2026-01",
        "calibration": CALIBRATION,
        "manifest": MANIFEST,
        "notes": ["Synthetic data only."],
    }
    args.update(kw)
    return ReportInput(**args)


class Structure(HTMLParser):
    """Checks nesting of non-void elements; collects tags, ids and URL attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "script":
            self.script_text.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "script":
            self.script_text[-1] += data


def parse(doc: str) -> Structure:
    p = Structure()
    p.feed(doc)
    p.close()
    return p


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    assert write_report(report_input(), path) == path
    return path.read_text(encoding="utf-8")


def test_sections_and_header(doc: str) -> None:
    ids = parse(doc).ids
    for section in ("summary", "scenarios", "kpis", "comparison", "plots", "observed"):
        assert section in ids
    for section in ("calibration", "notes", "appendix"):
        assert section in ids
    assert {"plot-occupancy", "plot-distribution", "plot-kpis"} <= ids
    assert "RH1 surge study" in doc and "ab" * 32 in doc and "run-0007" in doc
    assert "Decision support only, not a clinical directive." in doc
    assert "Synthetic data only." in doc


def test_kpi_values_formatted(doc: str) -> None:
    s = make_result("baseline", BASE).summary["ed_los_mean_h"]
    assert s.mean == pytest.approx(4.2)
    assert f"4.20 ± {s.ci95:.2f}" in doc
    assert "difference of means, ± combined half-widths" in doc.lower()
    surge = make_result("surge", SURGE).summary["ed_los_mean_h"]
    combined = math.hypot(s.ci95, surge.ci95)
    assert f"+1.90 ± {combined:.2f}" in doc
    assert ">higher (CIs apart)<" in doc
    assert ">no clear difference<" in doc  # the ED wait
    # ICU: +2.00 ± 1.76 with both half-widths 1.24: overlapping CIs, difference excludes 0
    assert ">probably higher<" in doc
    assert "95% confidence intervals do not overlap" in doc  # explained once, in the caption


def test_comparison_verdicts_and_signs() -> None:
    rows = {
        r.name: r for r in tables.comparison_rows(make_result("b", BASE), make_result("s", SURGE))
    }
    assert (rows["ed_los_mean_h"].verdict, rows["ed_los_mean_h"].strength) == (
        "higher (CIs apart)",
        "clear",
    )
    assert rows["icu_occupancy_mean"].verdict == "probably higher"
    assert rows["ed_wait_mean_h"].verdict == "no clear difference"
    lower = tables.comparison_rows(make_result("s", SURGE), make_result("b", BASE))
    assert lower[0].verdict == "lower (CIs apart)"
    # a tiny negative difference never reads "-0.00"
    tiny = [{k: v - 1e-4 for k, v in row.items()} for row in BASE]
    rows = {
        r.name: r for r in tables.comparison_rows(make_result("b", BASE), make_result("t", tiny))
    }
    assert rows["ed_los_mean_h"].difference.startswith("+0.00 ±")
    assert rows["ed_los_mean_h"].relative == "+0.0%"
    assert tables.fmt(-0.0001, 2) == "0.00"


def test_one_plotly_bundle_and_no_external_references(doc: str) -> None:
    head = str(get_plotlyjs())[:120]
    assert doc.count(head) == 1
    structure = parse(doc)
    for tag, attrs in structure.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed")
        for name in ("src", "href", "data", "action"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//")), (tag, attrs)
        if tag == "script":
            assert "src" not in attrs
    without_bundle = doc.replace(str(get_plotlyjs()), "")
    assert "http://" not in without_bundle and "https://" not in without_bundle
    assert "@import" not in doc and "url(" not in without_bundle


def test_valid_html_structure(doc: str) -> None:
    structure = parse(doc)
    assert structure.errors == []
    assert structure.stack == []
    assert doc.startswith("<!DOCTYPE html>")
    assert [t for t, _ in structure.tags].count("html") == 1


def test_figure_data_is_valid_plotly(doc: str) -> None:
    structure = parse(doc)
    figs = [
        (a["data-target"], json.loads(text))
        for (_, a), text in zip(
            [t for t in structure.tags if t[0] == "script"], structure.script_text, strict=True
        )
        if a.get("class") == "figure-data"
    ]
    assert [t for t, _ in figs] == ["plot-occupancy", "plot-distribution", "plot-kpis"]
    for _, fig in figs:
        go.Figure(fig)  # raises on any unknown property
    occupancy = figs[0][1]
    assert len(occupancy["data"]) == 4  # 2 resources x 2 scenarios
    assert occupancy["data"][0]["y"] == pytest.approx([9.0, 9.5, 10.0, 10.5, 11.0])
    # small multiples: one y axis per resource, x axes matched, one legend entry per scenario
    axes = {(t["xaxis"], t["yaxis"]) for t in occupancy["data"]}
    assert axes == {("x", "y"), ("x2", "y2")}
    assert occupancy["layout"]["xaxis2"]["matches"] == "x"
    assert [t["name"] for t in occupancy["data"] if t["showlegend"]] == ["baseline", "surge"]
    assert [t["line"]["dash"] for t in occupancy["data"]] == ["solid", "dot", "solid", "dot"]


def test_observed_range_and_calibration(doc: str) -> None:
    s = make_result("baseline", BASE).summary["icu_occupancy_mean"]
    assert "mean ± 1.96 × sd" in doc
    assert f"{s.mean + 1.96 * s.sd:.2f}" in doc
    assert "outside the simulated range" in doc  # ICU 14 vs ~9.5 ± 1
    assert "inside the simulated range" in doc  # LOS 4.3 vs 4.2 ± 0.4
    assert "not simulated" in doc
    assert "floored at 0" in doc
    assert "held-out month 2026-01" in doc
    fit = provenance.calibration_view(CALIBRATION).fits[0]
    assert fit.aic == "lognormal 1003.1 · gamma +9.2 · exponential +96.9"
    assert '<span class="nowrap">lognormal 1003.1</span> · <span class="nowrap">gamma +9.2' in doc
    assert "ed.<wbr>treatment.<wbr>duration" in doc and "statistic=0.031, pvalue=0.42" in doc


def test_observed_range_floored_at_zero() -> None:
    wait = [{"w": 0.0}, {"w": 0.0}, {"w": 0.0}, {"w": 3.0}]
    base = make_result("baseline", wait, {"w": ("wait", "h")})
    (row,) = tables.observed_rows(base, {"w": 0.2})
    assert (row.low, row.inside) == ("0.000", True)
    shifted = make_result("baseline", [{"w": v["w"] - 1.0} for v in wait], {"w": ("w", "h")})
    (row,) = tables.observed_rows(shifted, {"w": 0.2})
    assert row.low.startswith("-")


def test_text_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    labels = {evil: (evil, "<b>u</b>"), "ed_los_mean_h": ("ED LOS", "h")}
    rows = [{evil: 1.0, "ed_los_mean_h": 4.0}, {evil: 2.0, "ed_los_mean_h": 5.0}]
    inp = ReportInput(
        title=f"T {evil}",
        model_name=evil,
        model_hash="00" * 32,
        results={evil: make_result(evil, rows, labels)},
        notes=[evil],
        manifest={"run_id": evil, "x": {"y": evil}},
        calibration={"fits": {evil: {"family": evil, "n": 3}}},
        observed={evil: 1.5},
    )
    doc = render_report(inp)
    assert evil not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "<b>u</b>" not in doc
    structure = parse(doc)
    assert structure.errors == [] and structure.stack == []
    scripts = [t for t, _ in structure.tags if t == "script"]
    # plotly bundle, drawing code, three figures and the KPI bars' one-column layout for phones
    assert len(scripts) == 2 + 3 + 1


def test_single_scenario_missing_baseline_and_errors(tmp_path: Path) -> None:
    inp = ReportInput(
        title="one",
        model_name="rh1",
        model_hash="cd" * 32,
        results={"surge": make_result("surge", SURGE[:1])},  # one replication: no CI
    )
    doc = render_report(inp)
    assert "there is nothing to compare" in doc
    assert "No scenario named &#39;baseline&#39;" in doc
    assert "6.00 ± n/a" in doc
    assert "not recorded" in doc
    with pytest.raises(DataError):
        render_report(ReportInput(title="x", model_name="m", model_hash="h", results={}))
    (tmp_path / "dir").mkdir()
    with pytest.raises(CareTwinError):
        write_report(inp, tmp_path / "dir")


def test_histogram_kpi_prefers_los() -> None:
    result = make_result("baseline", BASE)
    assert figures.histogram_kpi(result) == "ed_los_mean_h"
    for rep in result.replications:
        del rep.histograms["ed_los_mean_h"]
    assert figures.histogram_kpi(result) == "ed_wait_mean_h"
    for rep in result.replications:
        rep.histograms.clear()
    assert figures.histogram_kpi(result) is None


def test_formatting_helpers() -> None:
    assert tables.fmt(float("nan")) == tables.MISSING
    assert tables.fmt(1234.56) == "1,234.6"
    assert tables.fmt(0.01234) == "0.012"
    assert tables.fmt_pm(12.345, 0.5) == "12.35 ± 0.50"
    assert figures.script_json({"a": "</script><!--&"}) == (
        '{"a":"\\u003c/script\\u003e\\u003c!--\\u0026"}'
    )
    assert provenance.format_aic([{"family": "a", "aic": 2.0}, {"family": "b", "aic": 1.0}]) == (
        "b 1.0 · a +1.0"
    )
    assert provenance.format_aic({"gamma": None, "weibull": 5.0, "lognormal": 4.5}) == (
        "lognormal 4.5 · weibull +0.5 · gamma failed"
    )
    raw = provenance.calibration_view({"note": "no fits", "x": {"y": 1}})
    assert raw.fits == [] and raw.raw_json is not None and '"y": 1' in raw.raw_json


def _long_tail_result(scenario: str) -> SimulationResult:
    result = make_result(scenario, BASE)
    for rep in result.replications:
        for hist in rep.histograms.values():
            hist[HIST_BINS - 1] = 0.2  # a sliver of stays of 72 h or more
            hist[100] = 0.1  # and one at 25 h
    return result


def test_distribution_range_tail_and_threshold() -> None:
    results = [_long_tail_result("baseline"), _long_tail_result("surge")]
    dist = figures.distribution(results, "ed_los_mean_h", {"ed_wait_mean_h": 1.0})
    assert dist is not None
    assert dist.x_max == 5.0  # stays of 2..5 h: the 99.5th percentile is in the 4.75-5 h bin
    assert dist.thresholds == []  # ed_wait has another histogram: not this KPI's limit
    assert 0 < dist.tails[0].share < 0.5 and dist.tails[0].open_ended
    fig = figures.distribution_figure(results, "ed_los_mean_h", {"ed_los_mean_h": 4.0})
    assert fig is not None
    go.Figure(fig)
    assert fig["layout"]["xaxis"]["range"] == [0, 5.0]
    assert len(fig["data"][0]["x"]) == HIST_BINS  # the tail is still plotted, off-axis
    (line,) = fig["layout"]["shapes"]
    assert line["x0"] == line["x1"] == 4.0
    texts = [a["text"] for a in fig["layout"]["annotations"]]
    assert any(t.startswith("4 h") for t in texts) and any("beyond 5 h" in t for t in texts)
    # a threshold beyond the 99.5th percentile widens the axis so the marker shows
    wide = figures.distribution(results, "ed_los_mean_h", {"ed_los_mean_h": 8.0})
    assert wide is not None and wide.x_max >= 8.0
    doc = render_report(
        report_input(results={r.scenario: r for r in results}, thresholds={"ed_los_mean_h": 4.0})
    )
    assert "The axis ends at 5 h" in doc and "Dashed line: 4 h" in doc
    assert "71.75 h or more" in doc


def test_threshold_of_same_interval_kpi() -> None:
    result = make_result("baseline", BASE)
    for rep in result.replications:
        rep.histograms["ed_los_over_4h_pct"] = rep.histograms["ed_los_mean_h"].copy()
    dist = figures.distribution([result], "ed_los_mean_h", {"ed_los_over_4h_pct": 4.0})
    assert dist is not None and [v for v, _ in dist.thresholds] == [4.0]
    assert render_report(report_input()).count("Dashed line") == 0  # no thresholds given
