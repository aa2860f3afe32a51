"""Scheduled jobs: each due time fires exactly once however many workers poll, missed due times
collapse into one run, and the job runs as its owner with the owner's roles at firing time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from tests.api_helpers import ADMIN, bearer, client, token_for

from caretwin.access import Actor
from caretwin.errors import AccessDenied, ConfigError
from caretwin.services.context import ServiceContext
from caretwin.services.jobs import JobWorker, list_jobs
from caretwin.services.schedules import (
    add_schedule,
    fire_due,
    list_schedules,
    next_due,
    remove_schedule,
    set_paused,
)
from caretwin.services.users import add_user, disable_user
from caretwin.store import AuditEvent
from caretwin.store.models import utcnow
from caretwin.store.schedules import Schedule, ScheduleFire
from caretwin.workspace import Workspace

TINY = {"model": "reference-hospital", "replications": 1, "run_days": 1, "warmup_days": 0}


def _due_now(ws: Workspace, name: str, ago: timedelta = timedelta(seconds=1)) -> datetime:
    due = (utcnow() - ago).replace(microsecond=0)
    with ws.session() as session:
        row = session.get(Schedule, name)
        assert row is not None
        row.next_due_at = due
    return due


def test_cron_times_are_read_in_the_schedules_zone() -> None:
    after = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert next_due("0 2 * * *", "UTC", after) == datetime(2026, 7, 2, 2, 0, tzinfo=UTC)
    # 02:00 in Paris in summer is 00:00 UTC
    assert next_due("0 2 * * *", "Europe/Paris", after) == datetime(2026, 7, 2, 0, 0, tzinfo=UTC)


def test_schedules_are_managed_with_their_permission(any_workspace: Workspace) -> None:
    ws = any_workspace
    ana = ServiceContext(ws, Actor("ana", frozenset({"analyst"})))
    added = add_schedule(ana, "nightly", "0 2 * * *", "simulate", TINY, timezone="Europe/Paris")
    assert added.owner == "ana" and added.next_due_at > utcnow()
    with pytest.raises(ConfigError, match="invalid cron"):
        add_schedule(ana, "bad", "every day", "simulate", TINY)
    with pytest.raises(ConfigError, match="time zone"):
        add_schedule(ana, "bad", "0 2 * * *", "simulate", TINY, timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="unknown model"):
        add_schedule(ana, "bad", "0 2 * * *", "simulate", {"model": "nope"})
    engineer = ServiceContext(ws, Actor("eve", frozenset({"clinical_engineer"})))
    with pytest.raises(AccessDenied):  # may manage schedules, but not pull data in
        add_schedule(engineer, "pull", "0 2 * * *", "pull", {"source": "ehr"})
    with pytest.raises(AccessDenied):  # someone else's schedule
        set_paused(engineer, "nightly", True)
    assert set_paused(ana, "nightly", True).paused
    assert not set_paused(ana, "nightly", False).paused
    clinician = ServiceContext(ws, Actor("cli", frozenset({"clinician"})))
    assert [s.name for s in list_schedules(clinician)] == ["nightly"]
    with pytest.raises(AccessDenied):
        remove_schedule(clinician, "nightly")
    c = client(ws)
    h = bearer(token_for(ws, "data_engineer"))
    body = {"name": "pull-ehr", "cron": "*/15 * * * *", "kind": "pull", "params": {"source": "x"}}
    r = c.post("/api/v1/schedules", headers=h, json=body)
    assert r.status_code == 201 and r.headers["location"] == "/api/v1/schedules/pull-ehr"
    assert [s["name"] for s in c.get("/api/v1/schedules", headers=h).json()["items"]] == [
        "nightly",
        "pull-ehr",
    ]
    assert c.delete("/api/v1/schedules/pull-ehr", headers=h).status_code == 200
    assert c.delete("/api/v1/schedules/pull-ehr", headers=h).status_code == 404
    remove_schedule(ServiceContext(ws, ADMIN), "nightly")  # an admin removes anyone's
    assert list_schedules(ana) == []


def test_a_due_time_fires_once_with_two_workers(any_workspace: Workspace) -> None:
    """Two embedded workers polling every 20 ms race for the same due time: one job."""
    ws = any_workspace
    ana = ServiceContext(ws, Actor("ana", frozenset({"analyst"})))
    # due now (set below); its next time is next year, so only the race can fire it twice
    add_schedule(ana, "yearly", "0 0 1 1 *", "simulate", TINY)
    due = _due_now(ws, "yearly")
    workers = [
        JobWorker(ws, 60, schedule_seconds=0.02, lease_seconds=60, listen=False) for _ in range(2)
    ]
    # concurrency of the race itself: both fire_due calls at once, many times over
    barrier = threading.Barrier(2)
    fired: list[int] = []

    def race(w: JobWorker) -> None:
        barrier.wait()
        for _ in range(20):
            fired.append(len(fire_due(ws, w.names[0])))

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(fired) == 1
    with ws.session() as session:
        fires = list(session.query(ScheduleFire))
        row = session.get(Schedule, "yearly")
    assert [(f.due_at, f.outcome) for f in fires] == [(due, "queued")]
    assert row is not None and row.next_due_at > utcnow() - timedelta(seconds=1)
    (job,) = list_jobs(ana)
    assert (job.kind, job.actor, job.schedule) == ("simulate", "ana", "yearly")
    assert row.last_job_id == job.job_id


def test_missed_due_times_run_once_and_a_disabled_owner_runs_nothing(
    any_workspace: Workspace,
) -> None:
    ws = any_workspace
    admin = ServiceContext(ws, ADMIN)
    add_user(admin, "olga", "Olga Owner", ["analyst"])
    olga = ServiceContext(ws, Actor("olga", frozenset({"analyst"})))
    add_schedule(olga, "hourly", "0 * * * *", "simulate", TINY)
    _due_now(ws, "hourly", ago=timedelta(hours=5))  # the workers were down five hours
    (fired,) = fire_due(ws, "w")
    assert fired.outcome == "queued"
    assert fire_due(ws, "w") == []  # no burst of the other four
    (row,) = list_schedules(olga)
    assert row.next_due_at > utcnow()
    (job,) = list_jobs(olga)
    assert job.actor == "olga" and job.params["model"] == "reference-hospital"
    disable_user(admin, "olga")
    _due_now(ws, "hourly")
    (skipped,) = fire_due(ws, "w")
    assert (skipped.outcome, skipped.job_id) == ("owner disabled", None)
    assert len(list_jobs(admin)) == 1
    with ws.session() as session:
        (event,) = session.query(AuditEvent).filter(AuditEvent.action == "schedules.skipped")
    assert event.outcome == "denied" and event.target == "hourly"


def test_the_owners_roles_when_it_fires_decide(workspace: Workspace) -> None:
    from caretwin.services.users import set_roles

    admin = ServiceContext(workspace, ADMIN)
    add_user(admin, "pat", "Pat Engineer", ["clinical_engineer"])
    pat = ServiceContext(workspace, Actor("pat", frozenset({"clinical_engineer"})))
    add_schedule(pat, "weekly", "0 6 * * 1", "simulate", TINY)
    set_roles(admin, "pat", ["governance"])  # no longer runs simulations
    _due_now(workspace, "weekly")
    (fired,) = fire_due(workspace, "w")
    assert (fired.outcome, fired.job_id) == ("not queued: access_denied", None)
    assert list_jobs(admin) == []


def test_a_worker_fires_schedules_by_itself(workspace: Workspace) -> None:
    """The worker's own loop fires the schedule and runs its job (a reproduction of a run that
    does not exist: it fails at once, so no simulation slows the test)."""
    ana = ServiceContext(workspace, Actor("ana", frozenset({"analyst"})))
    add_schedule(ana, "soon", "0 0 1 1 *", "reproduce", {"run_id": "run-none"})
    _due_now(workspace, "soon")
    worker = JobWorker(workspace, 0.05, schedule_seconds=0.05, listen=False)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not (jobs := list_jobs(ana)) or jobs[0].status != "failed":
            assert time.monotonic() < deadline, jobs
            time.sleep(0.1)
    finally:
        worker.stop(30)
    assert len(jobs) == 1 and jobs[0].schedule == "soon" and jobs[0].actor == "ana"
    assert jobs[0].error is not None and jobs[0].error["code"] == "run_not_found"
