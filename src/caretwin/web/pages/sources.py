"""Data sources and the pulls on record, for data teams (``data.read``).

Read-only: adding or changing a source, and running a pull, are the API's and the CLI's (a pull
is a background job). Shown: settings with secret *references* (a variable's or a file's name,
never a secret), watermarks, pulls with counts and statuses; never record content.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from caretwin.services.pulls import list_pulls, show_pull
from caretwin.services.sources import list_sources, show_source
from caretwin.web.deps import DataPage
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 25


@router.get("/sources")
def sources(page: DataPage) -> Response:
    return render(page, "sources.html", title="Data sources", sources=list_sources(page.ctx))


@router.get("/sources/{name}")
def source(page: DataPage, name: str) -> Response:
    found = show_source(page.ctx, name)
    return render(page, "source.html", title=f"Source {name}", found=found)


@router.get("/pulls")
def pulls(
    page: DataPage,
    after: str | None = Query(None, max_length=200),
    source: str | None = Query(None, max_length=100),
) -> Response:
    found = list_pulls(page.ctx, source=source or None, limit=PAGE_SIZE + 1, after=after or None)
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    return render(
        page, "pulls.html", title="Pulls", pulls=found, source=source or "", after=after,
        next_after=found[-1].pull_id if more and found else None,
    )  # fmt: skip


@router.get("/pulls/{pull_id}")
def pull(page: DataPage, pull_id: str) -> Response:
    found = show_pull(page.ctx, pull_id)
    return render(page, "pull.html", title=f"Pull {pull_id}", pull=found)
