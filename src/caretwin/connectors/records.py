"""Sources, watermarks and pulls in the metadata database, as plain values.

Callers get :class:`SourceConfig` and dictionaries, never ORM objects, so nothing outside this
module depends on a live session. Watermarks only ever move forward: a pull asked to start from
an earlier ``--since`` re-reads older data but never rewinds what later pulls will ask for.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, or_, select

from caretwin.connectors.config import SourceConfig
from caretwin.connectors.rest import later
from caretwin.errors import ConfigError
from caretwin.store.models import utcnow
from caretwin.store.sources import Pull, Source, SourceWatermark

if TYPE_CHECKING:
    from caretwin.workspace import Workspace

__all__ = [
    "PULL_FIELDS",
    "advance_watermarks",
    "create_pull",
    "delete_source",
    "get_pull",
    "get_source",
    "insert_source",
    "list_pulls",
    "list_sources",
    "pulls_page",
    "resumable_pull",
    "set_base_url",
    "update_pull",
    "watermarks",
]

PULL_FIELDS = ("pull_id", "source", "mode", "status", "staging_dir", "snapshot_id")


def _config(row: Source) -> SourceConfig:
    return SourceConfig.model_validate({**row.config, "name": row.name, "base_url": row.base_url})


def insert_source(ws: Workspace, config: SourceConfig, actor: str) -> None:
    with ws.session() as s:
        if s.get(Source, config.name) is not None:
            raise ConfigError(f"a source named {config.name!r} already exists")
        stored = config.model_dump(mode="json", exclude={"name", "base_url"})
        s.add(
            Source(
                name=config.name,
                kind=config.kind,
                base_url=config.base_url,
                config=stored,
                created_by=actor,
            )
        )


def get_source(ws: Workspace, name: str) -> SourceConfig:
    with ws.session() as s:
        row = s.get(Source, name)
        if row is None:
            raise ConfigError(f"no source named {name!r} (add one with: caretwin sources add fhir)")
        return _config(row)


def list_sources(ws: Workspace) -> list[tuple[SourceConfig, datetime, str]]:
    with ws.session() as s:
        rows = s.scalars(select(Source).order_by(Source.name)).all()
        return [(_config(r), r.created_at, r.created_by) for r in rows]


def delete_source(ws: Workspace, name: str) -> None:
    with ws.session() as s:
        if s.get(Source, name) is None:
            raise ConfigError(f"no source named {name!r}")
        s.execute(delete(SourceWatermark).where(SourceWatermark.source == name))
        s.execute(delete(Source).where(Source.name == name))


def watermarks(ws: Workspace, name: str) -> dict[str, str]:
    with ws.session() as s:
        rows = s.scalars(select(SourceWatermark).where(SourceWatermark.source == name)).all()
        return {r.resource_type: r.watermark for r in rows}


def advance_watermarks(ws: Workspace, name: str, marks: dict[str, str], pull_id: str) -> None:
    """Move each type's watermark forward to ``marks[type]`` (never backward), atomically."""
    with ws.session() as s:
        for rtype, mark in marks.items():
            row = s.get(SourceWatermark, (name, rtype))
            if row is None:
                s.add(
                    SourceWatermark(
                        source=name, resource_type=rtype, watermark=mark, pull_id=pull_id
                    )
                )
            elif later(row.watermark, mark) != row.watermark:
                row.watermark, row.pull_id, row.updated_at = mark, pull_id, utcnow()


def create_pull(
    ws: Workspace,
    pull_id: str,
    source: str,
    mode: str,
    actor: str,
    staging_dir: str,
    state: dict[str, Any],
) -> None:
    with ws.session() as s:
        s.add(
            Pull(
                pull_id=pull_id,
                source=source,
                mode=mode,
                status="running",
                actor=actor,
                staging_dir=staging_dir,
                state=state,
            )
        )


def update_pull(ws: Workspace, pull_id: str, *, finished: bool = False, **values: Any) -> None:
    with ws.session() as s:
        row = s.get(Pull, pull_id)
        if row is None:
            return
        for key, value in values.items():
            setattr(row, key, value)
        if finished:
            row.finished_at = utcnow()


def _pull_dict(row: Pull, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {f: getattr(row, f) for f in PULL_FIELDS}
    out["started_at"] = row.started_at.isoformat()
    out["finished_at"] = row.finished_at.isoformat() if row.finished_at else None
    out["counts"], out["stats"] = dict(row.counts), dict(row.stats)
    if full:
        out["state"] = dict(row.state)
    return out


def list_pulls(ws: Workspace, name: str, limit: int = 20) -> list[dict[str, Any]]:
    with ws.session() as s:
        stmt = select(Pull).where(Pull.source == name).order_by(Pull.started_at.desc()).limit(limit)
        return [_pull_dict(r) for r in s.scalars(stmt).all()]


def pulls_page(
    ws: Workspace, source: str | None = None, limit: int = 50, after: str | None = None
) -> list[dict[str, Any]]:
    """Pulls of every source (or ``source``), newest first; ``after`` a pull id: only those
    listed after it (a page's cursor)."""
    stmt = select(Pull).order_by(Pull.started_at.desc(), Pull.pull_id.desc()).limit(limit)
    if source is not None:
        stmt = stmt.where(Pull.source == source)
    with ws.session() as s:
        if after is not None:
            mark = s.get(Pull, after)
            if mark is None:
                raise ConfigError(f"no pull {after!r}", details={"pull_id": after})
            stmt = stmt.where(
                or_(
                    Pull.started_at < mark.started_at,
                    and_(Pull.started_at == mark.started_at, Pull.pull_id < mark.pull_id),
                )
            )
        return [_pull_dict(r) for r in s.scalars(stmt).all()]


def get_pull(ws: Workspace, pull_id: str) -> dict[str, Any]:
    with ws.session() as s:
        row = s.get(Pull, pull_id)
        if row is None:
            raise ConfigError(f"no pull {pull_id!r}", details={"pull_id": pull_id})
        return _pull_dict(row)


def resumable_pull(ws: Workspace, name: str) -> dict[str, Any] | None:
    """The newest bulk pull of ``name`` that stopped before finishing, with its state, if the
    server accepted its job (a status URL is on record). One that failed at the kick-off has no
    job to continue: there is nothing to resume and nothing stands in a new export's way."""
    with ws.session() as s:
        stmt = (
            select(Pull)
            .where(Pull.source == name, Pull.mode == "bulk", Pull.status.in_(("running", "failed")))
            .order_by(Pull.started_at.desc())
            .limit(1)
        )
        row = s.scalars(stmt).first()
        if row is None or not (row.state or {}).get("status_url"):
            return None
        return _pull_dict(row, full=True)


def set_base_url(ws: Workspace, name: str, base_url: str) -> None:
    """Point source ``name`` at ``base_url``, keeping its settings and watermarks."""
    with ws.session() as s:
        row = s.get(Source, name)
        if row is None:
            raise ConfigError(f"no source named {name!r}")
        row.base_url = base_url
