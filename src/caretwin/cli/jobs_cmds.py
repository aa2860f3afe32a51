"""``caretwin worker``, ``caretwin jobs`` and ``caretwin schedules``: background jobs from the
command line (the queue and its semantics: ``docs/jobs.md``)."""

from __future__ import annotations

from pathlib import Path

import typer

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table

jobs_app = typer.Typer(help="Background jobs: list, show, cancel.", no_args_is_help=True)
schedules_app = typer.Typer(
    help="Scheduled jobs: cron expressions per workspace.", no_args_is_help=True
)


def worker(
    workspace: Path | None = WORKSPACE_OPTION,
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, max=64, help="Jobs at once."),
    poll: float = typer.Option(2.0, "--poll", min=0.05, help="Seconds between queue polls."),
    lease: float = typer.Option(
        30.0, "--lease", min=1.0, help="Seconds without a heartbeat before a job counts as lost."
    ),
    schedule_every: float = typer.Option(
        5.0, "--schedule-every", min=0.05, help="Seconds between looks for due schedules."
    ),
    max_jobs: int | None = typer.Option(
        None, "--max-jobs", min=1, help="Stop after this many jobs."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Run background jobs from the workspace's queue (beside or instead of serve's worker).

    Runs until SIGTERM or Ctrl-C, then finishes the running job(s) before exiting.
    """
    import signal
    import sys
    import threading

    from caretwin.services.context import ServiceContext
    from caretwin.services.job_worker import run_worker

    stop = threading.Event()

    def graceful(signum: int, _frame: object) -> None:
        sys.stderr.write("caretwin worker: stopping after the running job(s)\n")
        stop.set()

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        sys.stderr.write(f"caretwin worker: taking jobs from {ctx.workspace.root}\n")
        sys.stderr.flush()
        done = run_worker(
            ctx,
            stop,
            concurrency=concurrency,
            poll_seconds=poll,
            lease_seconds=lease,
            schedule_seconds=schedule_every,
            max_jobs=max_jobs,
        )
        if fmt == OutputFormat.json:
            print_json(done.to_dict())
        else:
            typer.echo(f"worker stopped: {done.ran} job(s) run in {done.seconds:.1f} s")


@jobs_app.command("list")
def jobs_list(
    status: str | None = typer.Option(None, "--status", help="Only jobs with this status."),
    kind: str | None = typer.Option(None, "--kind", help="Only jobs of this kind."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Most recent N jobs."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List jobs, newest first."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.jobs import list_jobs

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        jobs = list_jobs(ctx, limit=limit, status=status, kind=kind)
        if fmt == OutputFormat.json:
            print_json([j.to_dict() for j in jobs])
            return
        columns = [
            Column("job id"),
            Column("kind"),
            Column("status"),
            Column("progress", justify="right", drop=4),
            Column("created (UTC)", drop=3),
            Column("actor", fit="end", drop=5),
            Column("run", fit="end", drop=2),
        ]
        rows = [
            [
                j.job_id,
                j.kind,
                j.status,
                f"{j.progress:.0%}",
                j.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                j.actor,
                j.run_id or "",
            ]
            for j in jobs
        ]
        print_table(columns, rows, title="jobs")


@jobs_app.command("show")
def jobs_show(
    job_id: str = typer.Argument(..., help="The job id (see `caretwin jobs list`)."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Show a job: status, progress, parameters, what it produced or why it failed."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.jobs import get_job

    with cli_errors(fmt):
        job = get_job(ServiceContext.for_cli(workspace), job_id)
        data = job.to_dict()
        if fmt == OutputFormat.json:
            print_json(data)
            return
        for key, value in data.items():
            if value not in (None, {}, []):
                typer.echo(f"{key}: {value}")


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str = typer.Argument(..., help="The job id."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Cancel a queued job, or stop a running one at its next safe point."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.jobs import cancel_job

    with cli_errors(fmt):
        job = cancel_job(ServiceContext.for_cli(workspace), job_id)
        if fmt == OutputFormat.json:
            print_json(job.to_dict())
        elif job.status == "cancelled":
            typer.echo(f"cancelled {job_id}")
        else:
            typer.echo(f"asked {job_id} to stop; it stops at its next safe point")


def _params(values: list[str]) -> dict[str, object]:
    """``key=value`` pairs; a value that reads as JSON (number, list, true) is taken as such."""
    import json

    out: dict[str, object] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from caretwin.errors import ConfigError

            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@schedules_app.command("add")
def schedules_add(
    name: str = typer.Argument(..., help="The schedule's name."),
    cron: str = typer.Option(..., "--cron", help='A cron expression, e.g. "0 2 * * *".'),
    kind: str = typer.Option(..., "--kind", help="The job kind: pull, calibrate, simulate, ..."),
    param: list[str] = typer.Option([], "--param", "-p", help="A parameter KEY=VALUE."),
    timezone: str = typer.Option("UTC", "--timezone", "--tz", help="Zone of the cron times."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Add a schedule: a job of KIND queued at each cron time, as you."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.schedules import add_schedule

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        added = add_schedule(ctx, name, cron, kind, _params(param), timezone=timezone)
        if fmt == OutputFormat.json:
            print_json(added.to_dict())
        else:
            typer.echo(f"schedule {name}: next at {added.next_due_at:%Y-%m-%d %H:%M} UTC")


@schedules_app.command("list")
def schedules_list(
    fmt: OutputFormat = FORMAT_OPTION, workspace: Path | None = WORKSPACE_OPTION
) -> None:
    """List schedules with their next due time."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.schedules import list_schedules

    with cli_errors(fmt):
        found = list_schedules(ServiceContext.for_cli(workspace))
        if fmt == OutputFormat.json:
            print_json([s.to_dict() for s in found])
            return
        columns = [
            Column("name"),
            Column("cron"),
            Column("kind"),
            Column("next (UTC)"),
            Column("owner", drop=3),
            Column("paused", drop=2),
        ]
        rows = [
            [s.name, s.cron, s.kind, f"{s.next_due_at:%Y-%m-%d %H:%M}", s.owner, str(s.paused)]
            for s in found
        ]
        print_table(columns, rows, title="schedules")


def _toggle(name: str, paused: bool | None, fmt: OutputFormat, workspace: Path | None) -> None:
    from caretwin.services.context import ServiceContext
    from caretwin.services.schedules import remove_schedule, set_paused

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        done = remove_schedule(ctx, name) if paused is None else set_paused(ctx, name, paused)
        if fmt == OutputFormat.json:
            print_json(done.to_dict())
        else:
            what = "removed" if paused is None else ("paused" if paused else "resumed")
            typer.echo(f"schedule {name} {what}")


@schedules_app.command("remove")
def schedules_remove(
    name: str = typer.Argument(...),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Remove a schedule."""
    _toggle(name, None, fmt, workspace)


@schedules_app.command("pause")
def schedules_pause(
    name: str = typer.Argument(...),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Pause a schedule (it fires nothing until resumed)."""
    _toggle(name, True, fmt, workspace)


@schedules_app.command("resume")
def schedules_resume(
    name: str = typer.Argument(...),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Resume a paused schedule from its next due time after now."""
    _toggle(name, False, fmt, workspace)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(schedules_app, name="schedules")
