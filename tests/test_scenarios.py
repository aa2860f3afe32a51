"""Saved scenarios: the parameter catalogue, validated immutable versions, runs with saved
scenarios beside the baseline and their comparison with confidence intervals."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from caretwin.access import Actor
from caretwin.errors import AccessDenied, ConfigError, DefinitionError, SavedScenarioNotFound
from caretwin.model import example_path, load_definition
from caretwin.model.parameters import parameter_catalogue
from caretwin.services.comparison import run_comparison
from caretwin.services.context import ServiceContext
from caretwin.services.models import list_models
from caretwin.services.scenarios import (
    archive_scenario,
    list_saved_scenarios,
    model_parameters,
    save_scenario,
    show_saved_scenario,
)
from caretwin.services.simulation import simulate_model
from caretwin.store import AuditEvent
from caretwin.workspace import Workspace

CLINIC = Path(__file__).resolve().parents[1] / "examples" / "model.yaml"


def _ctx(ws: Workspace, role: str, name: str | None = None) -> ServiceContext:
    return ServiceContext(ws, Actor(name or f"u-{role}", frozenset({role})))


def _with_clinic(ws: Workspace) -> None:
    (ws.root / "models").mkdir(exist_ok=True)
    shutil.copy(CLINIC, ws.root / "models" / "clinic.yaml")


def test_catalogue_is_read_off_the_definition() -> None:
    defn = load_definition(example_path("reference-hospital"))
    params = {p.path: p for p in parameter_catalogue(defn)}
    icu = params["resources.icu_bed.capacity"]
    assert (icu.value, icu.unit, icu.type, icu.minimum) == (16, "beds", "int", 0.0)
    los = params["pathways.ed.steps.icu.duration.mean"]
    assert (los.value, los.unit, los.exclusive_minimum, los.group) == (72.0, "h", True, "durations")
    share = params["pathways.ed.steps.treatment.next.0.p"]
    assert (share.minimum, share.maximum, share.group) == (0.0, 1.0, "routing")
    assert params["arrivals.ed.multiplier"].unit == "×"
    assert params["resources.ct.failures.repair.mean"].group == "reliability"
    # every pool and every step with a duration is there, nothing listed by hand
    assert {p.split(".")[1] for p in params if p.endswith(".capacity")} == set(defn.resources)
    timed = {s.id for pw in defn.pathways.values() for s in pw.steps if s.duration is not None}
    assert {p.split(".")[3] for p in params if ".duration." in p} == timed


def test_save_versions_show_list_archive(any_workspace: Workspace) -> None:
    ws = any_workspace
    _with_clinic(ws)
    clin = _ctx(ws, "clinician", "dr-a")
    v1 = save_scenario(
        clin, "five_rooms", "clinic", {"resources.room.capacity": 5}, note="one more room"
    )
    assert (v1.version, v1.ref, v1.author, v1.model_name) == (1, "five_rooms@v1", "dr-a", "clinic")
    pm = _ctx(ws, "program_manager", "pm-b")
    v2 = save_scenario(pm, "five_rooms", "clinic", {"resources.room.capacity": 6})
    assert v2.version == 2 and v2.author == "pm-b"
    assert show_saved_scenario(clin, "five_rooms").overrides == {"resources.room.capacity": 6}
    assert show_saved_scenario(clin, "five_rooms", 1).overrides == {"resources.room.capacity": 5}
    assert [s.ref for s in list_saved_scenarios(clin)] == ["five_rooms@v2"]
    assert list_saved_scenarios(clin, model="reference-hospital") == []
    gone = archive_scenario(pm, "five_rooms")
    assert gone.archived and gone.version == 3
    assert list_saved_scenarios(clin) == []
    assert [s.version for s in list_saved_scenarios(clin, include_archived=True)] == [3]
    assert show_saved_scenario(clin, "five_rooms", 1).archived is False  # history stays
    with pytest.raises(SavedScenarioNotFound):
        show_saved_scenario(clin, "nope")
    with pytest.raises(ConfigError, match="belongs to model"):
        save_scenario(clin, "five_rooms", "reference-hospital", {"resources.ct.capacity": 3})
    with ws.session() as s:
        actions = [e.action for e in s.query(AuditEvent).filter(AuditEvent.outcome == "ok")]
    assert actions.count("scenarios.save") == 2 and "scenarios.archive" in actions


def test_save_refuses_invalid_overrides_by_field_path(workspace: Workspace) -> None:
    clin = _ctx(workspace, "clinician")
    with pytest.raises(DefinitionError) as bad:
        save_scenario(clin, "neg", "reference-hospital", {"resources.icu_bed.capacity": -2})
    assert bad.value.problems[0][0] == "resources.icu_bed.capacity"
    assert "greater than or equal to 0" in bad.value.problems[0][1]
    with pytest.raises(DefinitionError) as bad:  # a cross-field rule: shares must sum to 1
        save_scenario(
            clin, "ct", "reference-hospital", {"pathways.ed.steps.treatment.next.0.p": 0.5}
        )
    assert bad.value.problems[0][0] == "pathways.ed.steps.treatment.next"
    with pytest.raises(DefinitionError) as bad:
        save_scenario(clin, "typo", "reference-hospital", {"resources.icu_bed.capacty": 20})
    assert bad.value.problems[0][0] == "resources.icu_bed.capacty"
    with pytest.raises(DefinitionError, match="at least one"):
        save_scenario(clin, "empty", "reference-hospital", {})
    with pytest.raises(ConfigError, match="scenario of the model itself"):
        save_scenario(clin, "baseline", "reference-hospital", {"resources.ct.capacity": 3})
    with pytest.raises(ConfigError, match="unknown model"):
        save_scenario(clin, "x", "no-such-model", {"resources.ct.capacity": 3})
    assert list_saved_scenarios(clin) == []


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("clinician", True), ("program_manager", True), ("viewer", False), ("auditor", False)],
)
def test_who_may_save(workspace: Workspace, role: str, allowed: bool) -> None:
    ctx = _ctx(workspace, role)
    change = {"resources.icu_bed.capacity": 20}
    if allowed:
        assert save_scenario(ctx, "icu20", "reference-hospital", change).version == 1
    else:
        with pytest.raises(AccessDenied):
            save_scenario(ctx, "icu20", "reference-hospital", change)


def test_parameters_and_models_services(workspace: Workspace) -> None:
    _with_clinic(workspace)
    viewer = _ctx(workspace, "viewer")
    found = model_parameters(viewer, "clinic")
    assert [p.path for p in found.parameters][:1] == ["resources.room.capacity"]
    assert found.scenarios == ["baseline", "four_rooms", "busy_season"]
    models = {m.key: m for m in list_models(viewer)}
    assert (
        models["clinic"].source == "workspace" and models["reference-hospital"].source == "example"
    )


def test_simulate_saved_scenario_and_compare(
    workspace: Workspace, report_figure: Callable[[str], None]
) -> None:
    _with_clinic(workspace)
    clin = _ctx(workspace, "clinician")
    save_scenario(clin, "one_room", "clinic", {"resources.room.capacity": 1})
    save_scenario(clin, "slow", "clinic", {"pathways.visit.steps.consult.duration.mean": 1.1})
    run = simulate_model(
        clin,
        workspace.root / "models" / "clinic.yaml",
        saved=["one_room", "slow@v1"],
        replications=4,
        workers=1,
        report=False,
    )
    assert list(run.scenarios) == ["baseline", "one_room@v1", "slow@v1"]
    cmp = run_comparison(clin, run.run_id)
    assert cmp.baseline == "baseline" and cmp.replications == 4
    by = {s.scenario: {k.kpi: k for k in s.kpis} for s in cmp.scenarios}
    wait = by["one_room@v1"]["wait_h"]
    # one room instead of three: waits grow far beyond noise
    assert wait.excludes_zero and wait.difference is not None and wait.difference > 1
    assert wait.difference_low is not None and wait.difference_low > 0
    assert wait.label == "Wait for a room" and wait.unit == "h"
    assert wait.baseline_mean == pytest.approx(run.scenarios["baseline"]["wait_h"].mean)
    report_figure(
        f"saved scenario one_room vs baseline (clinic, 4 reps): wait "
        f"{wait.baseline_mean:.2f} -> {wait.scenario_mean:.2f} h, difference "
        f"{wait.difference:.2f} ± {wait.difference_ci95:.2f} h"
    )
    with pytest.raises(AccessDenied):
        save_scenario(_ctx(workspace, "viewer"), "x", "clinic", {"resources.room.capacity": 2})
