"""Bring a metadata database's schema to the newest Alembic revision, from code.

Why programmatic: a workspace is opened by a CLI call or the API, not by an operator running
``alembic upgrade``; every :meth:`Workspace.open` upgrades, so an older workspace keeps working
after CareTwin is updated. The Alembic ``Config`` is built here rather than read from an ini
file so it works from an installed wheel as well as a source checkout.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from caretwin.errors import StoreError

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations; no ini file, no logging setup."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Upgrade ``engine``'s database to head; a no-op (one cheap query) when already there."""
    try:
        if current_revision(engine) == head_revision():
            return
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise StoreError(
            f"could not migrate the metadata database: {_first_line(exc)}",
            details={"backend": engine.dialect.name},
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
