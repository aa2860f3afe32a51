"""``caretwin demo`` end to end: a fresh workspace, every step, the report, and reproduction.

Replication counts are cut down (the default demo runs 20 per scenario and 100 for the held-out
month); the flow and every artefact are the same.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from caretwin.cli.app import app

runner = CliRunner()


def manifest_has_scorecard(path: Path) -> bool:
    outputs = orjson.loads(path.read_bytes())["outputs"]
    return set(outputs["scorecard"]["can_predict"]) >= {"ed_wait_mean_h", "ward_occupancy_mean"}


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "id" and value:
                self.ids.add(value)


@pytest.mark.slow
def test_demo_end_to_end_and_reproduce(tmp_path: Path) -> None:
    ws = tmp_path / "demo-ws"
    result = runner.invoke(
        app, ["demo", "-w", str(ws), "--reps", "3", "--holdout-reps", "20", "--workers", "2"]
    )
    assert result.exit_code == 0, result.output
    report = Path(result.stdout.strip().splitlines()[-1].removeprefix("report: "))
    assert report.is_file() and report.is_relative_to(ws)

    html = report.read_text(encoding="utf-8")
    parser = _Sections()
    parser.feed(html)
    # KPI table, scenarios against baseline, plots, validation scorecard, calibration, manifest
    for section in ("kpis", "comparison", "plots", "scorecard", "calibration", "appendix"):
        assert any(section in i for i in parser.ids), (section, sorted(parser.ids))
    for scenario in ("baseline", "ward_plus10", "ed_surge05", "one_ct"):
        assert scenario in html
    # the scorecard replaces the range check and says plainly what the twin can predict
    assert "inside the simulated range" not in html
    assert "Plan <strong>demo-holdout</strong>" in html
    assert "predict:" in html and "Acceptance criteria" in html
    assert manifest_has_scorecard(report.parent / "manifest.json")

    manifest = orjson.loads((report.parent / "manifest.json").read_bytes())
    assert manifest["kind"] == "demo" and manifest["status"] == "succeeded"
    assert manifest["data_snapshot_hash"]
    assert {"synth", "ingest", "calibrate", "simulate", "validate", "report"} <= set(
        manifest["timings"]
    )
    assert manifest["outputs"]["observed_holdout"]["ed_patients"] > 4000
    calibrated = ws / "models" / "reference-hospital-calibrated.yaml"
    assert "data_snapshot_hash" in calibrated.read_text()

    runs = orjson.loads(
        runner.invoke(app, ["runs", "list", "--format", "json", "-w", str(ws)]).stdout
    )
    kinds = sorted(r["kind"] for r in runs)
    assert kinds == ["calibrate", "demo", "quality"]  # quality: the ingested snapshot's check

    again = runner.invoke(app, ["reproduce", manifest["run_id"], "-w", str(ws)])
    assert again.exit_code == 0, again.output
    assert "identical" in again.output.lower()
