"""Background jobs: kinds through the plugin hook, validation and permission per kind at submit,
cooperative cancel of a running simulation (no half run left), upload ingest end to end, and
the reaping of jobs whose worker died."""

from __future__ import annotations

import stat
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from tests.api_helpers import ADMIN, bearer, client, token_for

from caretwin.access import Actor
from caretwin.errors import AccessDenied, ConfigError, ScenarioNotFound
from caretwin.lake import Lake
from caretwin.plugins.registry import job_kinds
from caretwin.services.context import ServiceContext
from caretwin.services.job_queue import reap_expired
from caretwin.services.jobs import (
    cancel_job,
    get_job,
    list_job_kinds,
    list_jobs,
    run_next_job,
    submit_job,
    submit_simulation,
)
from caretwin.services.runs import list_runs_op
from caretwin.store import AuditEvent
from caretwin.store.jobs import Job
from caretwin.store.models import utcnow
from caretwin.workspace import Workspace

DATA = Path(__file__).parent / "data" / "fhir"
TINY = {"model": "reference-hospital", "replications": 1, "run_days": 1, "warmup_days": 0}


def _events(ws: Workspace, action: str) -> list[AuditEvent]:
    with ws.session() as session:
        return list(session.query(AuditEvent).filter(AuditEvent.action == action))


def test_builtin_kinds_come_through_the_plugin_hook(workspace: Workspace) -> None:
    kinds = job_kinds()
    expected = {"simulate", "experiment", "calibrate", "ingest", "pull", "synth", "reproduce"}
    assert expected <= set(kinds)
    assert {kinds[k].plugin.name for k in expected} == {"builtin_job_kinds"}
    listed = {k.name: k for k in list_job_kinds(ServiceContext(workspace, ADMIN))}
    assert listed["simulate"].permission == "sim.run" and listed["simulate"].cancellable
    assert listed["ingest"].idempotent and not listed["pull"].idempotent


def test_submit_validates_params_and_checks_the_kinds_permission(workspace: Workspace) -> None:
    admin = ServiceContext(workspace, ADMIN)
    with pytest.raises(ConfigError, match="unknown model"):
        submit_job(admin, "simulate", {"model": "nope"})
    with pytest.raises(ConfigError, match="replications"):
        submit_job(admin, "simulate", {**TINY, "replications": 0})
    with pytest.raises(ConfigError, match="path: Extra inputs"):
        submit_job(admin, "synth", {"model": "reference-hospital", "days": 1, "path": "/etc"})
    with pytest.raises(ScenarioNotFound):
        submit_simulation(admin, "reference-hospital", scenarios=["nope"])
    with pytest.raises(ConfigError, match="unknown job kind"):
        submit_job(admin, "mine", {})
    clinician = ServiceContext(workspace, Actor("cli", frozenset({"clinician"})))
    submit_job(clinician, "simulate", TINY)  # a clinician runs scenarios ...
    with pytest.raises(AccessDenied):  # ... but brings no data in
        submit_job(clinician, "ingest", {"upload": "upl-0123456789abcdef"})
    (denied,) = [e for e in _events(workspace, "jobs.submit") if e.outcome == "denied"]
    assert denied.actor == "cli" and denied.details["permission"] == "data.ingest"
    assert [j.kind for j in list_jobs(admin, kind="simulate")] == ["simulate"]
    assert list_jobs(admin, kind="ingest") == []


@pytest.mark.slow
def test_cancelling_a_running_simulation_leaves_no_run(any_workspace: Workspace) -> None:
    ws = any_workspace
    owner = ServiceContext(ws, Actor("ana", frozenset({"analyst"})))
    job = submit_job(owner, "simulate", {**TINY, "replications": 400, "seed": 7})
    ended: list[object] = []
    runner = threading.Thread(target=lambda: ended.append(run_next_job(ws)))
    runner.start()
    deadline = time.monotonic() + 60
    while get_job(owner, job.job_id).done == 0:  # running, some replications written
        assert time.monotonic() < deadline and runner.is_alive()
        time.sleep(0.05)
    asked = cancel_job(owner, job.job_id)
    assert asked.status == "running" and asked.cancel_requested_by == "ana"
    runner.join(60)
    final = get_job(owner, job.job_id)
    assert final.status == "cancelled" and final.cancelled_by == "ana", final
    assert 0 < final.done < 400 and final.run_id is None
    assert list_runs_op(ServiceContext(ws, ADMIN)) == []  # no half run recorded
    assert not any(ws.runs_dir.iterdir())
    (event,) = _events(ws, "jobs.cancelled")
    assert event.target == job.job_id and event.details["cancelled_by"] == "ana"
    with pytest.raises(ConfigError, match="only a queued or running"):
        cancel_job(owner, job.job_id)


def test_only_the_submitter_or_an_admin_cancels_and_some_kinds_run_to_the_end(
    workspace: Workspace,
) -> None:
    ana = ServiceContext(workspace, Actor("ana", frozenset({"analyst"})))
    bob = ServiceContext(workspace, Actor("bob", frozenset({"analyst"})))
    job = submit_job(ana, "simulate", TINY)
    with pytest.raises(AccessDenied):
        cancel_job(bob, job.job_id)
    assert cancel_job(ServiceContext(workspace, ADMIN), job.job_id).cancelled_by == ADMIN.name
    pull = submit_job(ana, "pull", {"source": "ehr"})
    with workspace.session() as session:  # a worker holds it
        row = session.get(Job, pull.job_id)
        assert row is not None
        row.status = "running"
        row.lease_expires_at = utcnow() + timedelta(minutes=5)
    with pytest.raises(ConfigError, match="cannot be stopped half-way"):
        cancel_job(ana, pull.job_id)


@pytest.mark.slow
def test_upload_ingest_end_to_end(any_workspace: Workspace) -> None:
    ws = any_workspace
    c = client(ws)
    engineer = bearer(token_for(ws, "data_engineer"))
    files = [
        ("files", ("../../etc/mixed.ndjson", (DATA / "mixed.ndjson").read_bytes())),
        ("files", ("orders.csv", (DATA / "workorders.csv").read_bytes())),
    ]
    r = c.post("/api/v1/ingests", headers=engineer, files=files)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["url"]
    upload = ws.root / "uploads" / r.json()["params"]["upload"]
    assert sorted(p.name for p in upload.iterdir()) == ["mixed.ndjson", "orders.csv"]
    for path in (upload, *upload.iterdir()):  # owner-only while they wait
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    clinician = bearer(token_for(ws, "clinician"))
    assert c.post("/api/v1/ingests", headers=clinician, files=files).status_code == 403
    bad = [("files", ("notes.txt", b"hello"))]
    assert c.post("/api/v1/ingests", headers=engineer, files=bad).status_code == 400
    done = run_next_job(ws)
    assert done is not None and done.status == "done", done
    assert done.result["snapshot_id"] and done.result["records"] > 0
    assert not upload.exists()  # in the lake now: not kept twice
    assert Lake(ws.lake_dir).counts()["encounters"] > 0
    body = c.get(r.headers["location"], headers=engineer).json()
    assert body["status"] == "done" and body["result"]["snapshot_id"] == done.result["snapshot_id"]


def test_a_job_whose_worker_died_is_failed_or_requeued(any_workspace: Workspace) -> None:
    ws = any_workspace
    ana = ServiceContext(ws, Actor("ana", frozenset({"analyst"})))
    sim = submit_job(ana, "simulate", TINY)
    ingest = submit_job(ana, "ingest", {"upload": "upl-0123456789abcdef"})
    alive = submit_job(ana, "simulate", TINY)
    past, future = utcnow() - timedelta(seconds=1), utcnow() + timedelta(minutes=5)
    with ws.session() as session:
        for job_id, lease in ((sim.job_id, past), (ingest.job_id, past), (alive.job_id, future)):
            row = session.get(Job, job_id)
            assert row is not None
            row.status, row.worker, row.attempts = "running", "h:1:0", 1
            row.lease_expires_at = lease
    reaped = {j.job_id: j for j in reap_expired(ws)}
    assert set(reaped) == {sim.job_id, ingest.job_id}
    assert reaped[sim.job_id].status == "failed"
    assert reaped[sim.job_id].error is not None
    assert reaped[sim.job_id].error["code"] == "interrupted"
    assert reaped[sim.job_id].error["details"]["worker"] == "h:1:0"
    assert reaped[ingest.job_id].status == "queued"  # idempotent: tried again
    assert get_job(ana, alive.job_id).status == "running"  # its worker still beats
    assert [e.target for e in _events(ws, "jobs.interrupted")] == [sim.job_id]
    assert [e.target for e in _events(ws, "jobs.requeued")] == [ingest.job_id]
