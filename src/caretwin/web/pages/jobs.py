"""Background jobs: the list (paginated), a job's progress (refreshing while it runs), cancel."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from caretwin.services.jobs import cancel_job, get_job, list_jobs
from caretwin.web.deps import RunsPage
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 25
#: Seconds between refreshes of a page showing a job still queued or running.
REFRESH_SECONDS = 2
ACTIVE = ("queued", "running")


@router.get("/jobs")
def jobs(page: RunsPage, after: str | None = Query(None, max_length=60)) -> Response:
    found = list_jobs(page.ctx, limit=PAGE_SIZE + 1, after=after or None)
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    active = any(j.status in ACTIVE for j in found)
    return render(
        page, "jobs.html", title="Jobs", jobs=found, after=after,
        next_after=found[-1].job_id if more and found else None,
        refresh=REFRESH_SECONDS if active else None,
    )  # fmt: skip


def _job_page(page: RunsPage, job_id: str, message: str | None = None) -> Response:
    found = get_job(page.ctx, job_id)
    return render(
        page, "job.html", title=f"Job {job_id}", job=found, message=message,
        refresh=REFRESH_SECONDS if found.status in ACTIVE else None,
        cancellable=found.status in ACTIVE and not found.cancel_requested_by,
    )  # fmt: skip


@router.get("/jobs/{job_id}")
def job(page: RunsPage, job_id: str) -> Response:
    return _job_page(page, job_id)


@router.post("/jobs/{job_id}/cancel")
def cancel(page: RunsPage, job_id: str) -> Response:
    """Cancel a job (the service checks the job kind's permission, and ``workspace.admin`` for
    someone else's job): a queued one at once, a running one at its next safe point."""
    done = cancel_job(page.ctx, job_id)
    note = (
        "Job cancelled."
        if done.status == "cancelled"
        else "Cancel requested: the job stops at its next safe point."
    )
    return _job_page(page, job_id, note)
