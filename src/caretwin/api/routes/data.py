"""The lake and what describes it: snapshots, tables, views, sources; installed plugins.

Reads of patient-level data (``data.read``) are audited as such by their services. Lists are
whole (``next_cursor`` is always null): snapshots, views, sources and plugins are few.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from caretwin.api.deps import DataRead, ModelRead
from caretwin.services.results import ServiceResult

router = APIRouter(tags=["data"])


def _items(found: Sequence[ServiceResult]) -> JSONResponse:
    return JSONResponse({"items": [item.to_dict() for item in found], "next_cursor": None})


@router.get("/snapshots")
def snapshots(ctx: DataRead) -> JSONResponse:
    """Lake snapshots, as ``caretwin snapshots list``."""
    from caretwin.services.snapshots import snapshot_list

    return _items(snapshot_list(ctx))


@router.get("/snapshots/{ref}")
def snapshot(ref: str, ctx: DataRead) -> JSONResponse:
    """One snapshot: what its ingest added, its quarantine."""
    from caretwin.services.snapshots import show_snapshot

    return JSONResponse(show_snapshot(ctx, ref).to_dict())


@router.get("/snapshots/{a}/diff/{b}")
def snapshot_diff(a: str, b: str, ctx: DataRead) -> JSONResponse:
    """What changed from snapshot ``a`` to ``b``."""
    from caretwin.services.snapshots import diff_snapshots

    return JSONResponse(diff_snapshots(ctx, a, b).to_dict())


@router.get("/lake/tables")
def lake_tables(ctx: DataRead) -> JSONResponse:
    """Row counts of the lake's tables."""
    from caretwin.services.ingestion import lake_counts

    return JSONResponse(lake_counts(ctx).to_dict())


@router.get("/views")
def views(ctx: ModelRead) -> JSONResponse:
    """SQL on FHIR views of the workspace."""
    from caretwin.services.views import list_views

    return _items(list_views(ctx))


@router.get("/views/{name}")
def view(name: str, ctx: ModelRead) -> JSONResponse:
    from caretwin.services.views import show_view

    return JSONResponse(show_view(ctx, name).to_dict())


@router.get("/sources")
def sources(ctx: DataRead) -> JSONResponse:
    """External data sources (FHIR servers); never their secrets."""
    from caretwin.services.sources import list_sources

    return _items(list_sources(ctx))


@router.get("/sources/{name}")
def source(name: str, ctx: DataRead) -> JSONResponse:
    from caretwin.services.sources import show_source

    return JSONResponse(show_source(ctx, name).to_dict())


@router.get("/plugins")
def plugins(ctx: ModelRead) -> JSONResponse:
    """Installed plugins and what each registers."""
    from caretwin.services.plugins import list_plugins

    return _items(list_plugins(ctx))
