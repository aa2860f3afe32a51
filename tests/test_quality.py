"""Data-quality checks on hand-built inputs with planted defects, and on a clean RH1 data set."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs
from tests.quality_helpers import base_resources, defect_encounters, encounter, write_ndjson

from caretwin.ingest import ingest_paths
from caretwin.lake import Lake
from caretwin.model.examples import example_path
from caretwin.model.loader import load_definition
from caretwin.quality import CHECKS, QualityReport, assess, load_value_set, value_set_ids
from caretwin.reports.quality import render_quality_report
from caretwin.synth.generate import generate

# check id -> (rows in the tables, quarantined at ingest, example ids)
PLANTED = {
    "ref.encounters.patient_id": (1, 0, ["e-dangling"]),
    "period.encounters": (0, 1, ["Encounter.ndjson:3"]),
    "overlap.movements": (1, 0, ["e-overlap"]),
    "code.encounters.class_code": (1, 0, ["e-badclass"]),
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, str]:
    root = tmp_path_factory.mktemp("planted")
    res = base_resources()
    res["Encounter"] += defect_encounters()
    report = ingest_paths(root / "lake", [write_ndjson(root / "in", res)])
    return Lake(root / "lake"), report.snapshot_id


def _assert_only(report: QualityReport, planted: dict[str, tuple[int, int, list[str]]]) -> None:
    for f in report.findings:
        rows, quarantined, examples = planted.get(f.check, (0, 0, []))
        assert (f.count, f.quarantined) == (rows, quarantined), f.check
        assert f.examples + f.quarantine_examples == examples, f.check


def test_each_check_finds_exactly_the_planted_defects(planted: tuple[Lake, str]) -> None:
    lake, snapshot_id = planted
    report = assess(lake, snapshot_id, lake.data_hash())
    assert report.current and report.snapshot_id == snapshot_id
    _assert_only(report, PLANTED)
    assert report.defects == 4
    assert report.summary() == {"reference": 1, "period": 1, "overlap": 1, "value_set": 1}
    bad = report.finding("code.encounters.class_code")
    assert [(v.value, v.count) for v in bad.values] == [("XYZ", 1)]
    assert report.finding("ref.encounters.patient_id").in_snapshot == 1


def test_table_profiles_count_rows_and_nulls(planted: tuple[Lake, str]) -> None:
    lake, _ = planted
    report = assess(lake)
    tables = {t.table: t for t in report.tables}
    assert tables["encounters"].rows == 4  # the inverted one is quarantined
    cols = {c.column: c for c in tables["encounters"].columns}
    assert cols["part_of"].nulls == 4 and cols["part_of"].null_rate == 1.0
    assert cols["patient_id"].nulls == 0
    moves = {c.column: c for c in tables["movements"].columns}
    assert tables["movements"].rows == 8 and moves["end"].nulls == 1
    assert moves["end"].null_rate == pytest.approx(1 / 8)
    assert tables["work_orders"].rows == 0 and tables["work_orders"].columns[0].null_rate == 0.0


def test_later_snapshot_narrows_findings_to_its_records(
    planted: tuple[Lake, str], tmp_path: Path
) -> None:
    lake, first = planted
    first_hash = lake.data_hash()
    # Copying the lake keeps the module fixture intact for the other tests.
    shutil.copytree(lake.lake_dir, tmp_path / "lake")
    copy = Lake(tmp_path / "lake")
    extra = write_ndjson(tmp_path / "in2", {"Encounter": [encounter("e-dangling-2", "nobody")]})
    second = ingest_paths(copy.lake_dir, [extra]).snapshot_id
    now = assess(copy, second, copy.data_hash())
    dangling = now.finding("ref.encounters.patient_id")
    assert (dangling.count, dangling.in_snapshot) == (2, 1)
    assert dangling.examples == ["e-dangling", "e-dangling-2"]
    assert now.finding("period.encounters").quarantined == 0  # quarantined by the first one
    old = assess(copy, first, first_hash)
    assert not old.current
    assert old.finding("ref.encounters.patient_id").in_snapshot == 1
    assert old.finding("period.encounters").quarantined == 1


@pytest.mark.slow
def test_clean_synthetic_rh1_has_no_defects(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(load_definition(example_path("reference-hospital")), 14, 11, data)
    files = [*sorted(data.glob("*.ndjson")), data / "workorders.csv"]
    report = ingest_paths(tmp_path / "lake", files)
    lake = Lake(tmp_path / "lake")
    quality = assess(lake, report.snapshot_id, report.data_hash)
    assert {f.check: f.total for f in quality.findings if f.total} == {}
    assert {t.table: t.rows for t in quality.tables}["encounters"] > 1000


def test_value_sets_are_shipped_and_cover_every_code_check() -> None:
    ids = value_set_ids()
    assert {c.value_set for c in CHECKS if c.value_set} <= set(ids)
    assert load_value_set("encounter-class").contains("EMER")
    assert not load_value_set("encounter-status").contains("done")
    assert load_value_set("location-physical-type").system.endswith("location-physical-type")


def test_html_page_is_self_contained_and_free_of_record_content(
    planted: tuple[Lake, str],
) -> None:
    lake, snapshot_id = planted
    page = render_quality_report(assess(lake, snapshot_id, lake.data_hash()), run_id="r-1")
    assert "e-dangling" in page and "ref.encounters.patient_id" in page and "XYZ (1)" in page
    assert "Testperson" not in page and "Alex" not in page
    assert page.count("<script>") == 2  # plotly.js once, then the drawing code
    head = str(get_plotlyjs())[:120]
    assert page.count(head) == 1
    refs = _Refs()
    refs.feed(page.replace(str(get_plotlyjs()), ""))
    assert refs.tags and not refs.external  # code system URLs appear as text, never as links


class _Refs(HTMLParser):
    """Tags seen, and attributes that would load or link something from the network."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.external: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "data", "action") and (value or "").startswith(
                ("http:", "https:", "//")
            ):
                self.external.append((tag, name))
        if tag in ("link", "iframe", "img", "object", "embed"):
            self.external.append((tag, tag))
