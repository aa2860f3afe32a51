"""Run ids, the run recorder, the run record and reproduction, plus the CLI over them."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from caretwin.access import Actor, Permission
from caretwin.audit import AuditLog
from caretwin.cli.app import app
from caretwin.errors import CareTwinError, RunNotFound, StoreError
from caretwin.runs import (
    MANIFEST_FILE,
    Manifest,
    RunRecorder,
    get_run,
    list_runs,
    new_run_id,
    run_dir,
)
from caretwin.runs.manifest import TRACKED_PACKAGES
from caretwin.services.context import ServiceContext
from caretwin.services.reproduce import (
    compare_outputs,
    register_reproducer,
    reproduce,
    unregister_reproducer,
)
from caretwin.workspace import Workspace

ADMIN = Actor("root", frozenset({"admin"}))


@pytest.fixture
def ctx(any_workspace: Workspace) -> ServiceContext:
    return ServiceContext(any_workspace, ADMIN)


@pytest.fixture
def toy_kinds() -> Iterator[None]:
    """Register reproducers for toy run kinds; unregister afterwards."""

    def seeded(ctx: ServiceContext, m: Manifest) -> dict[str, Any]:
        return _toy_outputs(m.seed or 0, int(m.parameters["n"]))

    def drifting(ctx: ServiceContext, m: Manifest) -> dict[str, Any]:
        return _toy_outputs((m.seed or 0) + 1, int(m.parameters["n"]))

    def broken(ctx: ServiceContext, m: Manifest) -> dict[str, Any]:
        raise RuntimeError("engine exploded")

    register_reproducer("toy", seeded)
    register_reproducer("toy-drift", drifting)
    register_reproducer("toy-broken", broken)
    yield
    for kind in ("toy", "toy-drift", "toy-broken"):
        unregister_reproducer(kind)


def _toy_outputs(seed: int, n: int) -> dict[str, Any]:
    rng = random.Random(seed)
    waits = [rng.expovariate(1.0) for _ in range(n)]
    return {"kpis": {"mean_wait": sum(waits) / n, "by_unit": {"ED": max(waits), "n": n}}}


def _record_toy(ctx: ServiceContext, kind: str = "toy", seed: int = 7) -> str:
    rec = RunRecorder.start(
        ctx,
        kind,
        "RH1",
        "abc123",
        scenarios=["baseline"],
        seed=seed,
        replications=3,
        parameters={"n": 50},
    )
    with rec.timer("simulate"):
        outputs = _toy_outputs(seed, 50)
    rec.finish(outputs)
    return rec.run_id


def test_run_ids_are_sortable_and_prefixed() -> None:
    rid = new_run_id("simulate")
    assert re.fullmatch(r"sim-\d{8}T\d{6}-[0-9a-f]{6}", rid)
    assert new_run_id("calibrate").startswith("cal-")
    assert new_run_id("demo").startswith("demo-")
    assert new_run_id("Odd Kind!").startswith("odd-kind-")
    assert new_run_id("simulate") != new_run_id("simulate")


def test_recorder_writes_manifest_and_row(ctx: ServiceContext) -> None:
    rec = RunRecorder.start(
        ctx,
        "simulate",
        "RH1",
        "abc123",
        scenarios=["baseline", "surge"],
        seed=42,
        replications=10,
        parameters={"horizon_days": 7, "out": Path("/tmp/r")},
        data_snapshot_hash="d" * 64,
    )
    assert rec.run_dir == run_dir(ctx.workspace, rec.run_id) == ctx.workspace.runs_dir / rec.run_id
    assert rec.run_dir.is_dir()
    (running,) = list_runs(ctx.workspace)
    assert running.status == "running" and running.finished_at is None
    with rec.timer("simulate"):
        pass
    manifest = rec.finish({"kpis": {"mean_wait": 1.25}}, report_path=rec.run_dir / "report.html")

    on_disk = Manifest.model_validate_json((rec.run_dir / MANIFEST_FILE).read_text())
    assert on_disk == manifest == get_run(ctx.workspace, rec.run_id)
    assert manifest.status == "succeeded" and manifest.finished_at is not None
    assert manifest.actor == "root" and manifest.kind == "simulate"
    assert manifest.scenarios == ["baseline", "surge"] and manifest.seed == 42
    assert manifest.parameters == {"horizon_days": 7, "out": "/tmp/r"}
    assert manifest.data_snapshot_hash == "d" * 64
    assert set(manifest.packages) == set(TRACKED_PACKAGES)
    assert manifest.python_version.count(".") == 2
    assert manifest.git_commit is None or re.fullmatch(r"[0-9a-f]{40}", manifest.git_commit)
    assert {"simulate", "total"} <= set(manifest.timings)
    assert manifest.report_path == str(rec.run_dir / "report.html")

    (row,) = list_runs(ctx.workspace)
    assert row.status == "succeeded" and row.scenario == "baseline,surge"
    assert row.replications == 10 and row.model_hash == "abc123"
    assert row.report_path == manifest.report_path


def test_recorder_fail_and_context_manager(ctx: ServiceContext) -> None:
    with pytest.raises(ZeroDivisionError), RunRecorder.start(ctx, "calibrate", "RH1") as rec:
        _ = 1 / 0
    failed = get_run(ctx.workspace, rec.run_id)
    assert failed.status == "failed"
    assert failed.error == {"type": "ZeroDivisionError", "message": "division by zero"}
    with pytest.raises(StoreError, match="already failed"):
        rec.finish({})


def test_list_runs_newest_first_and_filtered(ctx: ServiceContext) -> None:
    ids = [_record_toy(ctx, seed=s) for s in range(3)]
    RunRecorder.start(ctx, "other").finish({})
    assert [r.run_id for r in list_runs(ctx.workspace, kind="toy")] == ids[::-1]
    assert len(list_runs(ctx.workspace, limit=2)) == 2


def test_get_run_missing(ctx: ServiceContext) -> None:
    with pytest.raises(RunNotFound):
        get_run(ctx.workspace, "sim-nope")


def test_compare_outputs_is_exact() -> None:
    a = {"kpis": {"x": 0.1 + 0.2, "n": 1, "u": {"ED": [1, 2]}}}
    assert compare_outputs(a, json.loads(json.dumps(a))) == {}
    b = {"kpis": {"x": 0.3, "n": 1.0, "u": {"ED": [1, 3]}, "extra": 1}}
    diffs = compare_outputs(a, b)
    assert set(diffs) == {"kpis.x", "kpis.n", "kpis.u.ED[1]", "kpis.extra"}
    assert diffs["kpis.extra"] == {"original": "<missing>", "reproduced": 1}


@pytest.mark.usefixtures("toy_kinds")
def test_reproduce_identical(ctx: ServiceContext) -> None:
    original = _record_toy(ctx)
    result = reproduce(ctx, original)
    assert result.identical and result.differences == {}
    assert result.original_run_id == original and result.new_run_id != original
    again = get_run(ctx.workspace, result.new_run_id)
    assert again.reproduces == original and again.seed == 7 and again.status == "succeeded"
    assert again.outputs == get_run(ctx.workspace, original).outputs
    event = AuditLog(ctx.workspace).list(action="runs.reproduce")[0]
    assert event.outcome == "ok" and event.details["identical"] is True


@pytest.mark.usefixtures("toy_kinds")
def test_reproduce_detects_differences(ctx: ServiceContext) -> None:
    original = _record_toy(ctx, kind="toy-drift")
    result = reproduce(ctx, original)
    assert not result.identical
    assert {"kpis.mean_wait", "kpis.by_unit.ED"} == set(result.differences)


@pytest.mark.usefixtures("toy_kinds")
def test_reproduce_failures(ctx: ServiceContext) -> None:
    broken = _record_toy(ctx, kind="toy-broken")
    with pytest.raises(RuntimeError, match="exploded"):
        reproduce(ctx, broken)
    (failed,) = [r for r in list_runs(ctx.workspace) if r.status == "failed"]
    assert get_run(ctx.workspace, failed.run_id).reproduces == broken

    with pytest.raises(StoreError, match="only succeeded"):
        reproduce(ctx, failed.run_id)
    unknown = RunRecorder.start(ctx, "mystery")
    unknown.finish({})
    with pytest.raises(CareTwinError, match="cannot be reproduced"):
        reproduce(ctx, unknown.run_id)
    with pytest.raises(RunNotFound):
        reproduce(ctx, "sim-nope")


@pytest.mark.usefixtures("toy_kinds")
def test_reproduce_needs_the_kinds_permission(ctx: ServiceContext) -> None:
    original = _record_toy(ctx)
    viewer = ServiceContext(ctx.workspace, Actor("vic", frozenset({"viewer"})))
    with pytest.raises(CareTwinError) as info:
        reproduce(viewer, original)
    assert info.value.exit_code == 8
    event = AuditLog(ctx.workspace).list(action="runs.reproduce")[0]
    assert event.outcome == "denied" and event.details["permission"] == Permission.SIMULATE


# -- CLI -----------------------------------------------------------------------------------------

runner = CliRunner()


def _cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_cli_init_audit_and_errors(tmp_path: Path) -> None:
    root = tmp_path / "cli-ws"
    result = _cli("init", str(root))
    assert result.exit_code == 0 and "created workspace" in result.output
    assert _cli("init", str(root)).exit_code == 2

    listed = _cli("audit", "list", "-w", str(root), "--format", "json")
    assert listed.exit_code == 0
    events = json.loads(listed.stdout)
    assert [e["action"] for e in events] == ["workspace.init"]

    table = _cli("audit", "list", "-w", str(root))
    assert table.exit_code == 0 and "workspace.init" in table.output

    missing = _cli("runs", "list", "-w", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    assert "no CareTwin workspace" in missing.output


@pytest.mark.usefixtures("toy_kinds")
def test_cli_runs_and_reproduce(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        ctx = ServiceContext(ws, Actor.os_user())
        same = _record_toy(ctx)
        drift = _record_toy(ctx, kind="toy-drift")
    w = ["-w", str(tmp_path / "ws")]

    listed = _cli("runs", "list", *w, "--format", "json")
    assert listed.exit_code == 0
    assert {r["run_id"] for r in json.loads(listed.stdout)} == {same, drift}
    assert same in _cli("runs", "list", *w).output

    shown = _cli("runs", "show", same, *w, "--format", "json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["run_id"] == same
    assert "model_hash" in _cli("runs", "show", same, *w).output

    nope = _cli("runs", "show", "sim-nope", *w)
    assert nope.exit_code == 7 and "no run sim-nope" in nope.output

    ok = _cli("reproduce", same, *w)
    assert ok.exit_code == 0 and "identical" in ok.output
    bad = _cli("reproduce", drift, *w)
    assert bad.exit_code == 1 and "NOT identical" in bad.output and "kpis.mean_wait" in bad.output
    as_json = _cli("reproduce", same, *w, "--format", "json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["identical"] is True
