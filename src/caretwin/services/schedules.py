"""Scheduled jobs: a job of any kind queued on a cron expression, per workspace, as its owner.

Every worker (the embedded one of ``caretwin serve`` and each ``caretwin worker``) calls
:func:`fire_due` every few seconds. A due time fires exactly once however many workers poll:
the first to insert ``(schedule, due_at)`` into ``schedule_fires`` (its primary key) fires it,
the others' inserts fail and they move on. Due times missed while no worker ran collapse into
one firing at the next poll (never a burst), and the schedule moves to its next time after
*now*. The job runs as the schedule's owner with the owner's roles *at firing time*: a disabled
(or, on a shared workspace, deleted) owner fires nothing, and that is audited.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from caretwin.access import Actor, Permission, require
from caretwin.errors import CareTwinError, ConfigError, ScheduleNotFound, StoreError
from caretwin.services.context import ServiceContext
from caretwin.services.job_queue import SERVER_ACTOR, job_kind
from caretwin.services.jobs import submit_job, validate_params
from caretwin.services.results import ServiceResult
from caretwin.store.identity import User
from caretwin.store.models import utcnow
from caretwin.store.schedules import Schedule, ScheduleFire
from caretwin.workspace import Workspace

__all__ = [
    "ScheduleFired",
    "ScheduleInfo",
    "add_schedule",
    "fire_due",
    "list_schedules",
    "next_due",
    "remove_schedule",
    "set_paused",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ScheduleInfo(ServiceResult):
    name: str
    cron: str
    timezone: str
    kind: str
    params: dict[str, Any]
    owner: str
    paused: bool
    next_due_at: datetime
    last_fired_at: datetime | None
    last_job_id: str | None

    @classmethod
    def of(cls, row: Schedule) -> ScheduleInfo:
        return cls(
            name=row.name,
            cron=row.cron,
            timezone=row.timezone,
            kind=row.kind,
            params=dict(row.params),
            owner=row.owner,
            paused=row.paused,
            next_due_at=row.next_due_at,
            last_fired_at=row.last_fired_at,
            last_job_id=row.last_job_id,
        )


class ScheduleFired(ServiceResult):
    """One due time fired: the job it queued, or why none was."""

    schedule: str
    due_at: datetime
    outcome: str
    job_id: str | None


def next_due(cron: str, tz: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``cron`` names in zone ``tz``, in UTC."""
    from croniter import croniter

    local = after.astimezone(ZoneInfo(tz))
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(UTC)


def _check(cron: str, tz: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(cron):
        raise ConfigError(f"invalid cron expression {cron!r}", details={"cron": cron})
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {tz!r}", details={"timezone": tz}) from None


def add_schedule(
    ctx: ServiceContext,
    name: str,
    cron: str,
    kind: str,
    params: Mapping[str, Any],
    *,
    timezone: str = "UTC",
) -> ScheduleInfo:
    """Add a schedule owned by ``ctx.actor``; the owner needs the kind's permission now, and
    the jobs it queues are checked against the owner's roles when they fire."""
    with ctx.operation("schedules.add", Permission.SCHEDULES_MANAGE, target=name) as op:
        if not _NAME.match(name):
            raise ConfigError("a schedule name: letters, digits, '.', '_' and '-' (max 100)")
        _check(cron, timezone)
        spec = job_kind(kind)
        require(ctx.actor, spec.permission)
        valid = validate_params(spec, params)
        row = Schedule(
            name=name,
            cron=cron,
            timezone=timezone,
            kind=kind,
            params=valid.model_dump(mode="json"),
            owner=ctx.actor.name,
            owner_kind=ctx.actor.kind,
            owner_roles=sorted(ctx.actor.roles),
            paused=False,
            next_due_at=next_due(cron, timezone, utcnow()),
            created_at=utcnow(),
        )
        with ctx.workspace.session() as session:
            if session.get(Schedule, name) is not None:
                raise ConfigError(f"a schedule {name!r} exists already", details={"name": name})
            session.add(row)
        op.details.update(kind=kind, cron=cron, timezone=timezone)
        return ScheduleInfo.of(row)


def list_schedules(ctx: ServiceContext) -> list[ScheduleInfo]:
    with ctx.operation("schedules.list", Permission.RUNS_READ, target="*") as op:
        with ctx.workspace.session() as session:
            rows = list(session.scalars(select(Schedule).order_by(Schedule.name)))
        op.details["count"] = len(rows)
        return [ScheduleInfo.of(r) for r in rows]


def _mine(ctx: ServiceContext, name: str) -> Schedule:
    with ctx.workspace.session() as session:
        row = session.get(Schedule, name)
    if row is None:
        raise ScheduleNotFound(f"no schedule {name!r}", details={"name": name})
    if row.owner != ctx.actor.name:  # someone else's schedule: administrators only
        require(ctx.actor, Permission.WORKSPACE_ADMIN)
    return row


def remove_schedule(ctx: ServiceContext, name: str) -> ScheduleInfo:
    with ctx.operation("schedules.remove", Permission.SCHEDULES_MANAGE, target=name):
        row = _mine(ctx, name)
        with ctx.workspace.session() as session:
            gone = session.get(Schedule, name)
            if gone is not None:
                session.delete(gone)
        return ScheduleInfo.of(row)


def set_paused(ctx: ServiceContext, name: str, paused: bool) -> ScheduleInfo:
    """Pause or resume; resuming moves the next due time past now (no catching up)."""
    action = "schedules.pause" if paused else "schedules.resume"
    with ctx.operation(action, Permission.SCHEDULES_MANAGE, target=name):
        row = _mine(ctx, name)
        values: dict[str, Any] = {"paused": paused}
        if not paused:
            values["next_due_at"] = next_due(row.cron, row.timezone, utcnow())
        with ctx.workspace.session() as session:
            session.execute(update(Schedule).where(Schedule.name == name).values(**values))
            fresh = session.get(Schedule, name)
        assert fresh is not None
        return ScheduleInfo.of(fresh)


def _owner(ws: Workspace, row: Schedule) -> Actor | str:
    """The owner as an actor with their current roles, or why the schedule may not fire."""
    with ws.session() as session:
        user = session.get(User, row.owner)
    if user is not None:
        return "owner disabled" if user.disabled else Actor(row.owner, frozenset(user.roles))
    if ws.shared:  # a shared workspace knows its people by the user table only
        return "owner unknown"
    # The OS user's own workspace: the CLI acts as that user with the roles it had.
    return Actor(row.owner, frozenset(row.owner_roles), kind=row.owner_kind)


def _claim(ws: Workspace, row: Schedule, worker: str, now: datetime) -> bool:
    """Insert the fire row and move the schedule on, in one transaction: ``False`` when
    another worker fired this due time first."""
    try:
        with ws.session() as session:
            session.add(
                ScheduleFire(
                    schedule=row.name,
                    due_at=row.next_due_at,
                    fired_at=now,
                    worker=worker,
                    outcome="firing",
                )
            )
            session.flush()
            session.execute(
                update(Schedule)
                .where(Schedule.name == row.name, Schedule.next_due_at == row.next_due_at)
                .values(next_due_at=next_due(row.cron, row.timezone, now), last_fired_at=now)
            )
    except StoreError as exc:
        if isinstance(exc.__cause__, IntegrityError):
            return False
        raise
    return True


def fire_due(ws: Workspace, worker: str, now: datetime | None = None) -> list[ScheduleFired]:
    """Queue the job of every schedule due at ``now``, each due time once across workers."""
    now = now or utcnow()
    with ws.session() as session:
        due = list(
            session.scalars(
                select(Schedule).where(Schedule.paused.is_(False), Schedule.next_due_at <= now)
            )
        )
    fired: list[ScheduleFired] = []
    audit = ServiceContext(ws, SERVER_ACTOR).audit
    for row in due:
        if not _claim(ws, row, worker, now):
            continue
        owner = _owner(ws, row)
        job_id: str | None = None
        if isinstance(owner, str):
            outcome = owner
            audit.record(SERVER_ACTOR, "schedules.skipped", row.name, "denied", {"reason": owner})
        else:
            try:
                job_id = submit_job(
                    ServiceContext(ws, owner), row.kind, row.params, schedule=row.name
                ).job_id
                outcome = "queued"
            except CareTwinError as exc:  # audited by submit_job as the owner's attempt
                outcome = f"not queued: {exc.code}"
        with ws.session() as session:
            session.execute(
                update(ScheduleFire)
                .where(ScheduleFire.schedule == row.name, ScheduleFire.due_at == row.next_due_at)
                .values(outcome=outcome, job_id=job_id)
            )
            if job_id is not None:
                session.execute(
                    update(Schedule).where(Schedule.name == row.name).values(last_job_id=job_id)
                )
        fired.append(
            ScheduleFired(schedule=row.name, due_at=row.next_due_at, outcome=outcome, job_id=job_id)
        )
    return fired
