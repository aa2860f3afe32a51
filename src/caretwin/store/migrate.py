"""Bring a metadata database's schema to the newest Alembic revision, from code.

Why programmatic: a workspace is opened by a CLI call or the API, not by an operator running
``alembic upgrade``; every :meth:`Workspace.open` upgrades, so an older workspace keeps working
after CareTwin is updated. The Alembic ``Config`` is built here rather than read from an ini
file so it works from an installed wheel as well as a source checkout.

Alembic is imported only when a database is not already at head: importing it (with its DDL
dialects) and parsing every revision file cost a fixed ~0.1-0.2 s on every command that opens a
workspace. The up-to-date check instead reads ``alembic_version`` with plain SQL and compares it
with the newest revision file's name, which tests/test_fixed_costs.py holds equal to its
revision id (the files' names sort in revision order).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

from caretwin.errors import StoreError

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations; no ini file, no logging setup."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Upgrade ``engine``'s database to head; a no-op (one cheap query) when already there."""
    try:
        if _at_newest_file(engine) or current_revision(engine) == head_revision():
            return
        from alembic import command

        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise StoreError(
            f"could not migrate the metadata database: {_first_line(exc)}",
            details={"backend": engine.dialect.name},
        ) from exc


def newest_revision_file() -> str:
    """The name (without ``.py``) of the last revision file in sort order."""
    return max(p.stem for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))


def _at_newest_file(engine: Engine) -> bool:
    """Whether ``engine``'s database records the newest revision file's revision: one plain
    query, no Alembic import. False (then Alembic decides) when the table is absent or odd."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        return False
    return len(rows) == 1 and rows[0] == newest_revision_file()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
