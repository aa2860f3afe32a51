"""The example plugin (tests/plugins/caretwin_example_plugin), installed offline into a temporary
folder, adds a KPI kind, an engine and a feeder that work through the ``caretwin`` command line
without editing CareTwin; a plugin that raises on import is reported and CareTwin still starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import caretwin
from caretwin.model import REFERENCE_HOSPITAL, example_path

pytestmark = pytest.mark.slow  # installs three small packages with pip (offline) and runs the CLI

HERE = Path(__file__).resolve().parent / "plugins"
SRC = Path(caretwin.__file__).resolve().parents[1]


def _install(src: Path, work: Path, target: Path, version: str | None = None) -> Path:
    """``pip install`` a plugin from a copy of its source (the build leaves files behind)."""
    copy = work / f"src-{target.name}"
    shutil.copytree(src, copy)
    if version is not None:
        project = copy / "pyproject.toml"
        text = project.read_text(encoding="utf-8").replace(
            'version = "0.1.0"', f'version = "{version}"'
        )
        project.write_text(text, encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-build-isolation",
            "--no-deps",
            "--target",
            str(target),
            str(copy),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("plugins")
    return {
        "v1": _install(HERE / "caretwin_example_plugin", work, work / "v1"),
        "v2": _install(HERE / "caretwin_example_plugin", work, work / "v2", "0.2.0"),
        "broken": _install(HERE / "caretwin_broken_plugin", work, work / "broken"),
    }


def cli(*args: str, paths: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in [SRC, *paths]))
    return subprocess.run(
        [sys.executable, "-c", "from caretwin.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _init(paths: list[Path], cwd: Path) -> str:
    """A new workspace ``cwd/ws`` made by ``caretwin init``; its path, for ``-w``."""
    ws = str(cwd / "ws")
    assert cli("init", ws, paths=paths, cwd=cwd).returncode == 0
    return ws


def _simulate(model: Path, ws: str, *options: str, paths: list[Path], cwd: Path) -> Any:
    """``simulate MODEL OPTIONS -w WS --format json``: the run it printed."""
    return _json(
        cli("simulate", str(model), *options, "-w", ws, "--format", "json", paths=paths, cwd=cwd)
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = yaml.safe_load(example_path(REFERENCE_HOSPITAL).read_text(encoding="utf-8"))
    data["kpis"]["ward_peak_day"] = {
        "type": "peak_day_occupancy",
        "label": "Medical ward beds, peak day",
        "resource": "ward_bed",
    }
    data["run"].update(replications=3, run_days=14)
    path = tmp_path_factory.mktemp("model") / "rh1-peak.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_plugins_list_shows_the_plugin_with_its_version(
    targets: dict[str, Path], tmp_path: Path
) -> None:
    rows = {
        r["name"]: r
        for r in _json(
            cli("plugins", "list", "--format", "json", paths=[targets["v1"]], cwd=tmp_path)
        )
    }
    example = rows["example"]
    assert (example["distribution"], example["version"], example["status"]) == (
        "caretwin-example-plugin",
        "0.1.0",
        "loaded",
    )
    assert example["provides"] == {
        "engines": ["example"],
        "kpis": ["peak_day_occupancy"],
        "feeders": ["wards-tsv"],
        "report_sections": ["example-peaks"],
        "commands": ["example"],
    }
    assert rows["builtin_engines"]["provides"]["engines"] == ["fast", "reference"]
    # metadata only: nothing imported, so nothing known yet but the version
    meta = {
        r["name"]: r
        for r in _json(
            cli(
                "plugins",
                "list",
                "--no-load",
                "--format",
                "json",
                paths=[targets["v1"]],
                cwd=tmp_path,
            )
        )
    }
    assert (meta["example"]["version"], meta["example"]["status"]) == ("0.1.0", "not loaded")


def test_the_twin_format_accepts_the_plugin_kpi(
    targets: dict[str, Path], model: Path, tmp_path: Path
) -> None:
    schema = _json(cli("schema", paths=[targets["v1"]], cwd=tmp_path))
    assert (
        "peak_day_occupancy"
        in schema["properties"]["kpis"]["additionalProperties"]["discriminator"]["mapping"]
    )
    assert cli("validate", str(model), paths=[targets["v1"]], cwd=tmp_path).returncode == 0
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(model.read_text(encoding="utf-8"))
    data["kpis"]["ward_peak_day"]["resource"] = "nowhere"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    done = cli("validate", str(bad), paths=[targets["v1"]], cwd=tmp_path)
    assert done.returncode == 3
    assert "kpis.ward_peak_day.resource: unknown resource 'nowhere'" in done.stderr
    # without the plugin the kind is unknown: a clear error, not a crash
    done = cli("validate", str(model), paths=[], cwd=tmp_path)
    assert done.returncode == 3
    assert "peak_day_occupancy" in done.stderr and "Traceback" not in done.stderr


def test_simulate_rh1_with_the_plugin_engine_and_kpi_and_reproduce(
    targets: dict[str, Path], model: Path, tmp_path: Path
) -> None:
    v1 = [targets["v1"]]
    ws = _init(v1, tmp_path)
    run = _simulate(
        model, ws, "--engine", "example", "--workers", "2", "--no-report", paths=v1, cwd=tmp_path
    )
    assert run["engine"] == "example"
    peak = run["kpis"]["ward_peak_day"]["mean"]
    assert peak >= run["kpis"]["ward_occupancy_mean"]["mean"] > 0
    # the plugin engine honours the contract: the same numbers as the reference engine
    ref = _simulate(model, ws, "--engine", "reference", paths=v1, cwd=tmp_path)
    assert ref["kpis"] == run["kpis"]
    # the plugin's report section, after the built-in result sections
    html = Path(ref["report"]).read_text(encoding="utf-8")
    assert '<section id="plugin-example-peaks">' in html
    assert "baseline: ward_peak_day = " in html
    assert html.index('id="plots"') < html.index('id="plugin-example-peaks"')
    manifest = json.loads((tmp_path / "ws" / "runs" / run["run_id"] / "manifest.json").read_text())
    assert manifest["plugins"] == [
        {"name": "example", "distribution": "caretwin-example-plugin", "version": "0.1.0"}
    ]
    assert manifest["parameters"]["engine"] == "example"
    assert cli("reproduce", run["run_id"], "-w", ws, paths=v1, cwd=tmp_path).returncode == 0
    other = cli("reproduce", run["run_id"], "-w", ws, paths=[targets["v2"]], cwd=tmp_path)
    assert other.returncode == 2
    assert (
        "plugin 'example' is caretwin-example-plugin 0.2.0 here, "
        "the run used caretwin-example-plugin 0.1.0" in other.stderr
    )
    gone = cli("reproduce", run["run_id"], "-w", ws, paths=[], cwd=tmp_path)
    assert gone.returncode == 2 and "is not installed" in gone.stderr


def test_a_plugin_raising_on_import_is_reported_and_caretwin_starts(
    targets: dict[str, Path], model: Path, tmp_path: Path
) -> None:
    paths = [targets["broken"], targets["v1"]]
    done = cli("--help", paths=paths, cwd=tmp_path)
    assert done.returncode == 0 and "simulate" in done.stdout
    assert (
        "plugin 'broken' (caretwin-broken-plugin 0.0.1) failed to load and is skipped: "
        "RuntimeError: this plugin is broken on purpose" in done.stderr
    )
    assert done.stderr.count("failed to load") == 1
    rows = {
        r["name"]: r
        for r in _json(cli("plugins", "list", "--format", "json", paths=paths, cwd=tmp_path))
    }
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["error"] == "RuntimeError: this plugin is broken on purpose"
    assert rows["example"]["status"] == "loaded"
    ws = _init(paths, tmp_path)
    run = _simulate(
        model, ws, "-r", "1", "--engine", "example", "--no-report", paths=paths, cwd=tmp_path
    )
    assert "ward_peak_day" in run["kpis"]


def test_ingest_reads_the_plugin_format(targets: dict[str, Path], tmp_path: Path) -> None:
    v1 = [targets["v1"]]
    ws = _init(v1, tmp_path)
    data = tmp_path / "in"
    data.mkdir()
    (data / "site.wards.tsv").write_text(
        "id\tname\tunit\nw1\tMedical ward\tMED\nw2\tIntensive care\tICU\nbroken line\n",
        encoding="utf-8",
    )
    unknown = data.parent / "x.unknown"
    unknown.write_text("?", encoding="utf-8")
    refused = cli("ingest", str(unknown), "-w", ws, paths=v1, cwd=tmp_path)
    assert refused.returncode == 4 and ".hl7, .txt (HL7 v2), .wards.tsv)" in refused.stderr
    report = _json(cli("ingest", str(data), "-w", ws, "--format", "json", paths=v1, cwd=tmp_path))
    assert report["counts"]["Location"]["added"] == 2
    assert report["quarantined"] == 1
    assert report["tables"]["locations"] == 2
    rows = _json(cli("lake", "quarantine", "-w", ws, "--format", "json", paths=v1, cwd=tmp_path))
    assert [(Path(r["source_file"]).name, r["line"]) for r in rows] == [("site.wards.tsv", 4)]
    assert "wards-tsv: expected 3 tab-separated cells" in rows[0]["reason"]
    # without the plugin the format is unknown: the folder has no supported file
    done = cli("ingest", str(data / "site.wards.tsv"), "-w", ws, paths=[], cwd=tmp_path)
    assert done.returncode == 4 and "unsupported input" in done.stderr


def test_the_plugin_command_group_is_listed_and_runs(
    targets: dict[str, Path], tmp_path: Path
) -> None:
    v1 = [targets["v1"]]
    listed = cli("--help", paths=v1, cwd=tmp_path)
    assert listed.returncode == 0
    assert any(
        line.split()[:4] == ["│", "example", "Example", "plugin"]
        for line in listed.stdout.splitlines()
    )
    tsv = tmp_path / "a.wards.tsv"
    tsv.write_text("id\tname\tunit\nw1\tMedical\tMED\n", encoding="utf-8")
    done = cli("example", "wards", str(tsv), paths=v1, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "1 wards\n")
    assert (
        cli("example", "about", paths=v1, cwd=tmp_path).stdout == "caretwin-example-plugin 0.1.0\n"
    )
    # without the plugin: an unknown command, as before
    assert cli("example", "about", paths=[], cwd=tmp_path).returncode == 2


def test_an_experiment_with_the_plugin_kpi_records_the_plugin(
    targets: dict[str, Path], model: Path, tmp_path: Path
) -> None:
    v1 = [targets["v1"]]
    ws = _init(v1, tmp_path)
    spec = tmp_path / "exp.yaml"
    spec.write_text(
        f"name: peak\nmodel: {model}\nreplications: 2\nscenarios: [ward_plus10]\n",
        encoding="utf-8",
    )
    args = ("experiment", str(spec), "--no-report", "-w", ws, "--format", "json")
    run = _json(cli(*args, paths=v1, cwd=tmp_path))
    manifest = json.loads((Path(run["run_dir"]) / "manifest.json").read_text())
    assert manifest["plugins"] == [
        {"name": "example", "distribution": "caretwin-example-plugin", "version": "0.1.0"}
    ]
    other = cli("reproduce", run["run_id"], "-w", ws, paths=[targets["v2"]], cwd=tmp_path)
    assert other.returncode == 2 and "0.2.0 here" in other.stderr
