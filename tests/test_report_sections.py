"""The simulation report is its registered sections, CareTwin's own included, in order."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator

import pytest

from caretwin.plugins import ReportSection, SectionHtml, hookimpl, registry
from caretwin.plugins.manager import BUILTIN_DISTRIBUTION, PluginInfo, discover, plugin_manager
from caretwin.reports import ReportInput, render_report
from test_reports import parse, report_input

BUILTIN = ["scenarios", "kpis", "comparison", "plots", "observed", "calibration", "notes"]


def section_ids(doc: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', doc)


def test_every_builtin_section_has_a_renderer_and_the_report_follows_the_registry() -> None:
    found = [s for s in registry.report_sections() if s.plugin.distribution == BUILTIN_DISTRIBUTION]
    # the scorecard section draws only for a report with a validation scorecard (the demo's),
    # the trust section only for a run with load figures (every simulate service run)
    names = [s.spec.name for s in found]
    assert names == [*BUILTIN[:2], "trust", *BUILTIN[2:4], "scorecard", *BUILTIN[4:], "appendix"]
    assert all(callable(s.spec.render) for s in found)
    doc = render_report(report_input())
    assert section_ids(doc) == [*BUILTIN, "appendix"]
    # one renderer's output, placed by the shell
    kpis = next(s.spec for s in found if s.spec.name == "kpis")
    got = kpis.render(report_input())
    assert isinstance(got, SectionHtml) and got.nav == "KPIs"
    assert got.body.strip() in doc


def test_sections_a_report_has_no_data_for_are_left_out_with_their_links() -> None:
    inp = report_input(observed=None, calibration=None, manifest=None, notes=[])
    doc = render_report(inp)
    assert section_ids(doc) == ["scenarios", "kpis", "comparison", "plots"]
    nav = doc[doc.index("<nav") : doc.index("</nav>")]
    assert re.findall(r'href="#([^"]+)"', nav) == ["kpis", "comparison", "plots"]


def _peaks(inp: ReportInput) -> str:
    return f"<p>{len(inp.results)} scenarios</p>"


def _ward(inp: ReportInput) -> SectionHtml:
    return SectionHtml("  <p>ward</p>", title="Ward <view>", nav="Ward")


def _broken(inp: ReportInput) -> str:
    raise RuntimeError("boom")


@hookimpl
def register_report_sections() -> list[ReportSection]:
    return [
        ReportSection("peaks", "Peaks", render=_peaks),  # order 50: after the plots
        ReportSection("ward", "Ward", render=_ward, order=15),  # before the KPIs
        ReportSection("broken", "Broken", render=_broken, order=16),
        ReportSection("kpis", "Taken", render=_peaks),  # a built-in name: skipped
    ]


@pytest.fixture
def third_party() -> Iterator[None]:
    info = PluginInfo("sections-test", __name__, "sections-test-plugin", "0.1", status="loaded")
    pm = plugin_manager()
    discover().append(info)
    pm.register(
        types.SimpleNamespace(register_report_sections=register_report_sections), name=info.name
    )
    registry.clear()
    try:
        yield
    finally:
        pm.unregister(name=info.name)
        discover().remove(info)
        registry.clear()


def test_a_plugins_sections_take_their_place_by_order(
    third_party: None, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = render_report(report_input())
    assert section_ids(doc) == [
        "scenarios",
        "plugin-ward",
        "kpis",
        "comparison",
        "plots",
        "plugin-peaks",
        *BUILTIN[4:],
        "appendix",
    ]
    assert '<section id="plugin-peaks">\n  <h2>Peaks</h2>\n  <p>2 scenarios</p>\n</section>' in doc
    assert "<h2>Ward &lt;view&gt;</h2>" in doc and '<a href="#plugin-ward">Ward</a>' in doc
    err = capsys.readouterr().err
    assert "report section 'broken' failed and is left out: RuntimeError: boom" in err
    assert "report section 'kpis' is already provided" in err
    structure = parse(doc)
    assert structure.errors == [] and structure.stack == []
