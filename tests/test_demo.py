"""``caretwin demo`` end to end: a fresh workspace, every step, the report, and reproduction.

Replication counts are cut down (the default demo runs 40 per scenario, 20 parameter draws × 2,
and 100 for the held-out month); the flow and every artefact are the same.
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
        app, ["demo", "-w", str(ws), "--reps", "4", "--holdout-reps", "20", "--workers", "2"]
    )
    assert result.exit_code == 0, result.output
    report = Path(result.stdout.strip().splitlines()[-1].removeprefix("report: "))
    assert report.is_file() and report.is_relative_to(ws)

    html = report.read_text(encoding="utf-8")
    parser = _Sections()
    parser.feed(html)
    # KPI table, uncertainty and load, scenarios against baseline, plots, validation scorecard,
    # calibration, manifest
    for section in ("kpis", "trust", "comparison", "plots", "scorecard", "calibration", "appendix"):
        assert any(section in i for i in parser.ids), (section, sorted(parser.ids))
    for scenario in ("baseline", "ward_plus10", "ed_surge05", "one_ct"):
        assert scenario in html
    # the scorecard replaces the range check and says plainly what the twin can predict
    assert "inside the simulated range" not in html
    assert "Plan <strong>demo-holdout</strong>" in html
    assert "predict:" in html and "Acceptance criteria" in html
    assert manifest_has_scorecard(report.parent / "manifest.json")
    # the calibrated twin under parameter uncertainty: intervals, load per resource, runaways
    assert "Uncertainty, load and stability" in html
    assert "2 parameter sets drawn from the calibration" in html and "P(rho &gt; 1)" in html
    assert "Runaway replications" in html
    assert "offered load per resource" in result.output and "runaway replications" in result.output
    assert "the twin can predict" in result.output and "cannot predict" in result.output

    manifest = orjson.loads((report.parent / "manifest.json").read_bytes())
    assert manifest["kind"] == "demo" and manifest["status"] == "succeeded"
    assert manifest["data_snapshot_hash"]
    assert {"synth", "ingest", "calibrate", "simulate", "validate", "report"} <= set(
        manifest["timings"]
    )
    assert manifest["outputs"]["observed_holdout"]["ed_patients"] > 4000
    outputs = manifest["outputs"]
    assert outputs["parameter_uncertainty"] == {"draws": 2, "reps_per_draw": 2}
    lo, hi = outputs["kpis"]["ward_occupancy_mean"]["interval90"]
    assert lo <= outputs["kpis"]["ward_occupancy_mean"]["mean"] <= hi
    assert set(outputs["kpis"]["ed_wait_mean_h"]["variance_share"]) == {"parameters", "monte_carlo"}
    assert {"ed_space", "ct", "icu_bed", "ward_bed", "surgical_bed"} <= set(outputs["load"])
    for figure in outputs["load"].values():
        assert set(figure) == {"rho", "rho_interval90", "p_rho_above_1"}
        assert 0.0 <= figure["p_rho_above_1"] <= 1.0
    assert 0.0 <= outputs["runaway_share"] <= 1.0
    assert all("interval90" in k for k in outputs["scenarios"]["one_ct"].values())
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
