"""The plugin mechanism: CareTwin's own engines, KPIs, feeders, ... come through the hooks."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.errors import AccessDenied, SimulationError
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.plugins import registry
from caretwin.plugins.manager import BUILTIN, BUILTIN_DISTRIBUTION
from caretwin.services.context import ServiceContext
from caretwin.services.plugins import list_plugins
from caretwin.sim.compiled import compile_definition
from caretwin.sim.runner import engine_names, resolve_engine, simulate
from caretwin.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def test_builtin_entry_points_in_pyproject_match_the_fallback_list() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["caretwin"] == BUILTIN
    assert "pluggy>=1.5" in project["project"]["dependencies"]


def test_builtin_engines_come_through_the_hooks(workspace: Workspace) -> None:
    engines = registry.engines()
    assert {"fast", "reference"} <= set(engines)
    assert all(
        engines[n].plugin.distribution == BUILTIN_DISTRIBUTION for n in ("fast", "reference")
    )
    assert engine_names()[0] == "auto"
    rows = {r.name: r for r in list_plugins(ServiceContext(workspace, Actor.os_user()))}
    assert rows["builtin_engines"].provides["engines"] == ["fast", "reference"]
    assert rows["builtin_engines"].status == "loaded"
    assert "simulate" in rows["builtin_commands"].provides["commands"]


def test_listing_plugins_is_a_permission_checked_audited_read(workspace: Workspace) -> None:
    rows = list_plugins(ServiceContext(workspace, Actor("ana", frozenset({"viewer"}))))
    assert rows[0].to_dict()["distribution"] == BUILTIN_DISTRIBUTION
    event = AuditLog(workspace).list(limit=1)[0]
    assert (event.action, event.actor, event.outcome) == ("plugins.list", "ana", "ok")
    assert event.details["plugins"] == len(rows) and event.details["failed"] == []
    with pytest.raises(AccessDenied):
        list_plugins(ServiceContext(workspace, Actor("nobody", frozenset())), load=False)
    event = AuditLog(workspace).list(limit=1)[0]
    assert (event.action, event.outcome) == ("plugins.list", "denied")


def test_an_unknown_engine_is_a_clear_error_naming_the_engines() -> None:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    with pytest.raises(SimulationError, match=r"unknown engine 'nope' \(engines: auto, fast"):
        resolve_engine(compile_definition(defn), "nope")


def test_every_registered_engine_gives_the_reference_numbers_on_rh1() -> None:
    defn = load_definition(example_path(REFERENCE_HOSPITAL))
    defn = defn.model_copy(update={"run": defn.run.model_copy(update={"run_days": 5.0})})
    ref = simulate(defn, replications=2, seed=3, engine="reference")
    fast = simulate(defn, replications=2, seed=3, engine="fast")
    assert ref.engine == "reference" and fast.engine == "fast"
    assert [r.kpis for r in ref.replications] == [r.kpis for r in fast.replications]


def test_builtin_feeders_fitters_and_report_sections_come_through_the_hooks(
    tmp_path: Path,
) -> None:
    from caretwin.calibrate.fitting import FAMILIES
    from caretwin.ingest.plugin import feeder_name

    assert tuple(registry.fitters()) == FAMILIES
    names = [f.spec.name for f in registry.feeders()]
    assert names == ["work-orders", "fhir", "hl7v2"]
    hl7 = tmp_path / "adt.txt"
    hl7.write_text("MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\r", encoding="utf-8")
    other = tmp_path / "notes.txt"
    other.write_text("hello", encoding="utf-8")
    assert feeder_name(Path("Patient.000.ndjson.gz")) == "fhir"
    assert feeder_name(Path("orders.CSV")) == "work-orders"
    assert (feeder_name(hl7), feeder_name(other)) == ("hl7v2", None)
    sections = [s.spec.name for s in registry.report_sections()]
    assert sections[:5] == ["scenarios", "kpis", "trust", "comparison", "plots"]


def test_fit_duration_goes_through_the_registered_fitters() -> None:
    import numpy as np

    from caretwin.calibrate.fitting import fit_duration
    from caretwin.errors import CalibrationError

    x = np.random.default_rng(7).lognormal(1.0, 0.5, 400)
    fit = fit_duration(x)
    assert fit.family == "lognormal" and set(fit.aic) == set(registry.fitters())
    with pytest.raises(CalibrationError, match="unknown duration families: nope"):
        fit_duration(x, families=("nope",))


def test_help_without_third_party_plugins_loads_no_plugin_machinery() -> None:
    import json
    import subprocess
    import sys

    from caretwin.cli.plugin_scan import third_party_installed

    if third_party_installed():
        pytest.skip("a third-party caretwin plugin is installed in this environment")
    code = """
import contextlib, io, json, sys
sys.argv = ["caretwin", "--help"]
from caretwin.cli.app import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main()
print(json.dumps(sorted(m for m in ("pluggy", "importlib.metadata") if m in sys.modules)))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_engine_option_completes_registered_engines() -> None:
    from caretwin.cli.sim_cmds import complete_engine

    assert complete_engine("") == engine_names()
    assert complete_engine("f") == ["fast"]


def test_the_scan_takes_caretwins_own_editable_egg_info_for_caretwin(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An editable install leaves src/caretwin.egg-info (no version in the name) on sys.path;
    # taking it for a third party made every `--help` load the plugin machinery.
    import sys
    from pathlib import Path

    from caretwin.cli import plugin_scan

    root = Path(str(tmp_path))
    for folder in ("caretwin.egg-info", "caretwin-0.1.0.dist-info"):
        (root / folder).mkdir()
        (root / folder / "entry_points.txt").write_text("[caretwin]\nx = caretwin.x\n")
    monkeypatch.setattr(sys, "path", [str(root)])
    plugin_scan.third_party_installed.cache_clear()
    try:
        assert not plugin_scan.third_party_installed()
        other = root / "caretwin_example_plugin-0.1.0.dist-info"
        other.mkdir()
        (other / "entry_points.txt").write_text("[caretwin]\nexample = example.hooks\n")
        plugin_scan.third_party_installed.cache_clear()
        assert plugin_scan.third_party_installed()
    finally:
        plugin_scan.third_party_installed.cache_clear()
