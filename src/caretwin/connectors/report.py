"""The result of one pull, as returned by the service and printed by ``caretwin pull``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["PullReport"]


class PullReport(BaseModel):
    """One pull's outcome. ``status``: ``complete``, or ``partial`` when some type stopped early
    (its watermark held, so the next pull asks again). ``fetched`` counts records downloaded per
    type; ``ingest`` holds the ingest counts (added / unchanged / quarantined) per type.
    """

    pull_id: str
    source: str
    mode: str
    status: str
    staging_dir: str
    fetched: dict[str, int] = Field(default_factory=dict)
    ingest: dict[str, dict[str, int]] = Field(default_factory=dict)
    deleted: dict[str, int] = Field(default_factory=dict)
    delete_checks: dict[str, str] = Field(default_factory=dict)
    added: int = 0
    quarantined: int = 0
    source_errors: int = 0
    snapshot_id: str | None = None
    watermarks: dict[str, str] = Field(default_factory=dict)
    incomplete: dict[str, str] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0
