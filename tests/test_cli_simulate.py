"""``caretwin simulate``, ``validate``, ``schema``, ``examples`` and ``reproduce`` from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.model_helpers import short_reference_model
from typer.testing import CliRunner

from caretwin.cli.app import app
from caretwin.model import REFERENCE_HOSPITAL, example_text

runner = CliRunner()


@pytest.fixture()
def short_rh1(tmp_path: Path) -> Path:
    return short_reference_model(
        tmp_path / "rh1-short.yaml", warmup_days=7, run_days=28, cooldown_days=3
    )


def _ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws)])
    assert result.exit_code == 0, result.output
    return ws


def test_simulate_json_prints_kpis_with_ci(tmp_path: Path, short_rh1: Path) -> None:
    ws = _ws(tmp_path)
    result = runner.invoke(
        app,
        ["simulate", str(short_rh1), "--reps", "3", "--seed", "5", "--format", "json",
         "--workers", "1", "-w", str(ws)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert set(out["kpis"]) >= {"ed_wait_mean_h", "icu_occupancy_mean", "ed_los_over_4h_pct"}
    for summary in out["kpis"].values():
        assert set(summary) == {
            "mean", "ci95", "sd", "n", "label", "unit", "interval90", "variance_share",
        }  # fmt: skip
        assert summary["interval90"] is None  # only under --parameter-uncertainty
    assert set(out["load"]) == {"ed_space", "ct", "icu_bed", "ward_bed", "surgical_bed"}
    assert 0 <= out["runaway_share"] <= 1
    assert list(out["scenarios"]) == ["baseline"] and out["scenarios"]["baseline"] == out["kpis"]
    assert out["replications"] == 3 and out["seed"] == 5
    run_dir = ws / "runs" / out["run_id"]
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    assert manifest["model_hash"] == out["model_hash"]
    assert manifest["seed"] == 5 and manifest["replications"] == 3
    assert manifest["python_version"] and manifest["packages"]["numpy"]
    assert "simulate" in manifest["timings"]
    assert (run_dir / "report.html").exists() and (run_dir / "model.yaml").exists()

    listed = runner.invoke(app, ["runs", "list", "--format", "json", "-w", str(ws)])
    assert out["run_id"] in listed.stdout

    again = runner.invoke(app, ["reproduce", out["run_id"], "-w", str(ws)])
    assert again.exit_code == 0, again.output
    assert "identical" in again.output.lower()

    audit = runner.invoke(app, ["audit", "list", "--format", "json", "-w", str(ws)])
    actions = {e["action"] for e in orjson.loads(audit.stdout)}
    assert {"workspace.init", "sim.run", "runs.reproduce"} <= actions


def test_simulate_several_scenarios(tmp_path: Path, short_rh1: Path) -> None:
    ws = _ws(tmp_path)
    result = runner.invoke(
        app,
        ["simulate", str(short_rh1), "-s", "all", "--reps", "2", "--format", "json",
         "--workers", "1", "--no-report", "-w", str(ws)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert list(out["scenarios"]) == ["baseline", "ward_plus10", "ed_surge05", "one_ct"]
    assert out["report"] is None


def test_invalid_model_fails_with_field_path_not_traceback(tmp_path: Path, short_rh1: Path) -> None:
    data = yaml.safe_load(short_rh1.read_text())
    data["pathways"]["ed"]["steps"][0]["next"][0]["p"] = 0.5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    ws = _ws(tmp_path)
    for cmd in (["validate", str(bad)], ["simulate", str(bad)]):
        result = runner.invoke(app, [*cmd, "-w", str(ws)])
        assert result.exit_code == 3
        assert "pathways.ed.steps[treatment].next" in result.output
        assert "routing probabilities sum to 1.15" in result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        # a misspelt last key: simulate -s typo refuses it, validate used to pass it
        ("resources.icu_bed.capacityy", "resources.icu_bed.capacityy", "unknown field"),
        ("resources.icu_bedz.capacity", "resources.icu_bedz.capacity", "unknown field"),
        ("pathways.ed.steps.ct_scan.duratio", "pathways.ed.steps.ct_scan.duratio", "unknown field"),
        ("resources.icu_bed.capacity", "resources.icu_bed.capacity", "valid integer"),
    ],
)
def test_validate_refuses_what_simulate_refuses(
    tmp_path: Path, short_rh1: Path, override: str, path: str, message: str
) -> None:
    data = yaml.safe_load(short_rh1.read_text())
    value: Any = "many" if message == "valid integer" else 3
    data["scenarios"]["typo"] = {"set": {override: value}}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    ws = _ws(tmp_path)
    for cmd in (["validate", str(bad)], ["simulate", str(bad), "-s", "typo", "--reps", "1"]):
        result = runner.invoke(app, [*cmd, "-w", str(ws)])
        assert result.exit_code == 3, (cmd, result.output)
        assert f"scenarios.typo.set.{path}: " in result.output, result.output
        assert message in result.output
        assert "Traceback" not in result.output
    as_json = runner.invoke(app, ["validate", str(bad), "--format", "json", "-w", str(ws)])
    problems = orjson.loads(as_json.stdout)["error"]["details"]["problems"]
    assert [p["path"] for p in problems] == [f"scenarios.typo.set.{path}"]


def test_unknown_scenario_is_a_clear_error(tmp_path: Path, short_rh1: Path) -> None:
    ws = _ws(tmp_path)
    result = runner.invoke(app, ["simulate", str(short_rh1), "-s", "nope", "-w", str(ws)])
    assert result.exit_code == 3
    assert "unknown scenario 'nope'" in result.output


def test_json_errors_use_the_envelope(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    result = runner.invoke(
        app, ["simulate", str(tmp_path / "missing.yaml"), "--format", "json", "-w", str(ws)]
    )
    assert result.exit_code == 3
    err = orjson.loads(result.stdout)["error"]
    assert err["code"] == "definition_error" and "no such model file" in err["message"]


def test_schema_examples_and_validate(tmp_path: Path) -> None:
    schema = runner.invoke(app, ["schema"])
    assert schema.exit_code == 0
    doc = orjson.loads(schema.stdout)
    assert {"resources", "arrivals", "pathways", "run", "kpis", "scenarios"} <= set(
        doc["properties"]
    )
    listing = runner.invoke(app, ["examples"])
    assert REFERENCE_HOSPITAL in listing.stdout.split()
    ws = _ws(tmp_path)
    copied = runner.invoke(
        app, ["examples", REFERENCE_HOSPITAL, "-o", str(tmp_path), "-w", str(ws)]
    )
    assert copied.exit_code == 0, copied.output
    path = tmp_path / f"{REFERENCE_HOSPITAL}.yaml"
    assert path.read_text() == example_text(REFERENCE_HOSPITAL)
    valid = runner.invoke(app, ["validate", str(path), "--format", "json", "-w", str(ws)])
    assert orjson.loads(valid.stdout)["scenarios"] == [
        "baseline", "ward_plus10", "ed_surge05", "one_ct",
    ]  # fmt: skip
