"""``GET /api/v1/health``: the one route needing no credentials (and not audited: probes)."""

from __future__ import annotations

from fastapi import APIRouter

from caretwin.api.deps import Public
from caretwin.version import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
def health(ctx: Public) -> dict[str, str]:
    """The server answers: ``{"status": "ok", "version": ...}``."""
    return {"status": "ok", "version": __version__}
