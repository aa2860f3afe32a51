"""Background jobs: work asked for over the API (or by a schedule) runs later, on a worker, as
its asker, through the same service the command line uses.

Kinds of job come through the ``register_job_kinds`` plugin hook (CareTwin's own: simulate,
experiment, calibrate, ingest, pull, synth, reproduce). :func:`submit_job` checks the kind's
permission and validates its parameters now, so a bad request fails here, not on the worker;
the row in the ``jobs`` table is then the job's whole state (:mod:`caretwin.store.jobs`). The
queue (claim, leases, reaping the jobs of dead workers) is :mod:`caretwin.services.job_queue`,
the workers :mod:`caretwin.services.job_worker`; ``docs/jobs.md`` describes the design.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import and_, or_, select, update

from caretwin.access import Permission, require
from caretwin.errors import ConfigError, JobNotFound
from caretwin.model import dump_definition, example_names, parse_definition
from caretwin.plugins import JobKindSpec
from caretwin.services.context import ServiceContext
from caretwin.services.job_info import JobInfo, JobKindInfo
from caretwin.services.job_params import MAX_REPLICATIONS
from caretwin.services.job_queue import job_kind, notify, reap_expired, rows_updated
from caretwin.services.job_worker import JobWorker, run_job, run_next_job
from caretwin.services.models import load_named_model
from caretwin.store.jobs import JOB_STATUSES, Job
from caretwin.store.models import utcnow
from caretwin.workspace import Workspace

__all__ = [
    "JOB_STATUSES",
    "MAX_REPLICATIONS",
    "JobInfo",
    "JobKindInfo",
    "JobWorker",
    "cancel_job",
    "fail_interrupted",
    "get_job",
    "list_job_kinds",
    "list_jobs",
    "run_job",
    "run_next_job",
    "submit_job",
    "submit_simulation",
]


def validate_params(spec: JobKindSpec, params: Mapping[str, Any] | BaseModel) -> BaseModel:
    """``params`` checked against the kind's model (``ConfigError`` naming each problem)."""
    model = spec.params()
    if isinstance(params, model):
        return params
    data = params.model_dump() if isinstance(params, BaseModel) else dict(params)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or spec.name}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError(
            f"invalid {spec.name} job: {'; '.join(problems)}",
            details={"kind": spec.name, "problems": problems},
        ) from None


def submit_job(
    ctx: ServiceContext,
    kind: str,
    params: Mapping[str, Any] | BaseModel,
    *,
    schedule: str | None = None,
) -> JobInfo:
    """Queue a job of ``kind``; it runs on a worker as ``ctx.actor``.

    Seeing jobs (``runs.read``) is the operation's gate; the kind's own permission is checked
    inside it, so a denial is audited with the permission that was missing.
    """
    with ctx.operation("jobs.submit", Permission.RUNS_READ, target=kind) as op:
        spec = job_kind(kind)
        require(ctx.actor, spec.permission)
        valid = validate_params(spec, params)
        actor = ctx.actor
        job = Job(
            job_id="job-" + secrets.token_hex(8),
            kind=kind,
            status="queued",
            actor=actor.name,
            actor_kind=actor.kind,
            roles=sorted(actor.roles),
            scopes=None if actor.scopes is None else sorted(p.value for p in actor.scopes),
            params=valid.model_dump(mode="json"),
            progress_done=0,
            progress_total=0,
            attempts=0,
            schedule=schedule,
            created_at=utcnow(),
        )
        with ctx.workspace.session() as session:
            session.add(job)
            notify(ctx.workspace, session, job.job_id)
        op.details.update(job_id=job.job_id, kind=kind, schedule=schedule)
        return JobInfo.of(job)


def submit_simulation(
    ctx: ServiceContext,
    model: str,
    *,
    scenarios: list[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    run_days: float | None = None,
    warmup_days: float | None = None,
    definition: str | None = None,
    saved: list[str] | None = None,
) -> JobInfo:
    """Queue a simulation of the example ``model`` (or of ``definition``, a twin definition's
    YAML text labelled ``model``); ``run_days``/``warmup_days`` replace its run length.

    A ``model`` that is no example names a twin definition of the workspace
    (``models/KEY.yaml``), queued as its text. ``saved``: saved scenarios (``NAME`` or
    ``NAME@vN``) pinned now, with their overrides, so the job runs what was asked for.
    """
    pinned: dict[str, dict[str, Any]] = {}
    if definition is None and model not in example_names():
        definition = dump_definition(load_named_model(ctx.workspace, model))
    if saved:
        from caretwin.services.scenarios import with_saved_scenarios

        base = (
            parse_definition(definition, source=model)
            if definition is not None
            else load_named_model(ctx.workspace, model)
        )
        defn, keys = with_saved_scenarios(ctx, base, saved)
        pinned = {k: dict(defn.scenarios[k].set) for k in keys}
    params = {
        "model": model,
        "definition": definition,
        "scenarios": scenarios or ["baseline"],
        "replications": replications,
        "seed": seed,
        "run_days": run_days,
        "warmup_days": warmup_days,
        "saved": pinned,
    }
    return submit_job(ctx, "simulate", params)


def _load(ws: Workspace, job_id: str) -> Job:
    with ws.session() as session:
        job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id} in this workspace", details={"job_id": job_id})
    return job


def get_job(ctx: ServiceContext, job_id: str) -> JobInfo:
    with ctx.operation("jobs.show", Permission.RUNS_READ, target=job_id):
        return JobInfo.of(_load(ctx.workspace, job_id))


def list_job_kinds(ctx: ServiceContext) -> list[JobKindInfo]:
    """The kinds of job registered here (CareTwin's and plugins')."""
    from caretwin.plugins.registry import job_kinds

    with ctx.operation("jobs.kinds", Permission.RUNS_READ, target="*"):
        return [
            JobKindInfo(
                name=name,
                description=p.spec.description,
                permission=p.spec.permission.value,
                cancellable=p.spec.cancellable,
                idempotent=p.spec.idempotent,
                plugin=p.plugin.name,
            )
            for name, p in sorted(job_kinds().items())
        ]


def list_jobs(
    ctx: ServiceContext,
    limit: int = 50,
    after: str | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> list[JobInfo]:
    """Jobs, newest first; ``after``: the last job id of the previous page."""
    if limit < 0:
        raise ConfigError("the job limit must be zero or more")
    target = f"{kind or '*'}/{status or '*'}"
    with ctx.operation("jobs.list", Permission.RUNS_READ, target=target) as op:
        stmt = select(Job).order_by(Job.created_at.desc(), Job.job_id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(Job.status == status)
        if kind is not None:
            stmt = stmt.where(Job.kind == kind)
        with ctx.workspace.session() as session:
            if after is not None:
                mark = session.get(Job, after)
                if mark is None:
                    raise JobNotFound(
                        f"no job {after} in this workspace", details={"job_id": after}
                    )
                stmt = stmt.where(
                    or_(
                        Job.created_at < mark.created_at,
                        and_(Job.created_at == mark.created_at, Job.job_id < mark.job_id),
                    )
                )
            jobs = [JobInfo.of(job) for job in session.scalars(stmt)]
        op.details["count"] = len(jobs)
        return jobs


def cancel_job(ctx: ServiceContext, job_id: str) -> JobInfo:
    """Cancel a job: a queued one at once; a running one of a cancellable kind at its next
    safe point (its status stays ``running`` with ``cancel_requested_by`` set until the worker
    stops it; then ``cancelled``, and the workspace is as before the job).

    Needs the kind's permission; someone else's job also needs ``workspace.admin``.
    """
    with ctx.operation("jobs.cancel", Permission.RUNS_READ, target=job_id) as op:
        job = _load(ctx.workspace, job_id)
        spec = _kind_or_none(job.kind)
        require(ctx.actor, spec.permission if spec else Permission.WORKSPACE_ADMIN)
        if job.actor != ctx.actor.name:
            require(ctx.actor, Permission.WORKSPACE_ADMIN)
        who = ctx.actor.name
        with ctx.workspace.session() as session:
            if rows_updated(
                session,
                update(Job)
                .where(Job.job_id == job_id, Job.status == "queued")
                .values(status="cancelled", finished_at=utcnow(), cancelled_by=who),
            ):
                changed = "cancelled"
            elif (
                spec is not None
                and spec.cancellable
                and rows_updated(
                    session,
                    update(Job)
                    .where(Job.job_id == job_id, Job.status == "running")
                    .values(cancel_requested_by=who),
                )
            ):
                changed = "cancel requested"
            else:
                changed = ""
        job = _load(ctx.workspace, job_id)
        if not changed:
            why = (
                f"a running {job.kind} job cannot be stopped half-way"
                if job.status == "running"
                else "only a queued or running job can be cancelled"
            )
            raise ConfigError(
                f"job {job_id} is {job.status}; {why}",
                details={"job_id": job_id, "status": job.status},
            )
        op.details.update(status=job.status, outcome=changed, kind=job.kind)
        return JobInfo.of(job)


def _kind_or_none(name: str) -> JobKindSpec | None:
    try:
        return job_kind(name)
    except ConfigError:  # its plugin was uninstalled: only an admin may touch the job
        return None


def fail_interrupted(ws: Workspace) -> list[JobInfo]:
    """Close the jobs a stopped server or dead worker left ``running`` (lease expired, or never
    leased): queued again when their kind is idempotent, else failed with the reason; audited.

    ``caretwin serve`` and ``caretwin worker`` call it at start; workers repeat it as they run.
    """
    return reap_expired(ws)
