"""A workspace: one folder holding config, metadata database, lake and run folders.

Why a folder: everything a twin's governance needs — the audit trail, the data it was fitted on,
the runs and their manifests — travels together and can be archived or handed to a reviewer as
one unit. The metadata database defaults to SQLite inside the folder; a shared deployment points
``database_url`` at PostgreSQL instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from caretwin.audit.settings import AuditSettings
from caretwin.errors import ConfigError, StoreError, WorkspaceNotFound
from caretwin.store import migrate
from caretwin.workspace.config import (
    CONFIG_FILE,
    WorkspaceConfig,
    load_config,
    normalize_database_url,
    save_config,
)
from caretwin.workspace.private import group_id, make_private, make_shared, private_files

__all__ = ["DB_FILE", "Workspace", "default_workspace_path"]

DB_FILE = "caretwin.db"


def default_workspace_path() -> Path:
    """``$CARETWIN_HOME`` if set (the folder *is* the default workspace), else the XDG path."""
    home = os.environ.get("CARETWIN_HOME")
    if home:
        return Path(home).expanduser()
    return Path.home() / ".local" / "share" / "caretwin" / "default"


class Workspace:
    """An opened workspace. Build one with :meth:`init`, :meth:`open` or :meth:`resolve`."""

    def __init__(self, root: Path, config: WorkspaceConfig) -> None:
        self.root = root.resolve()
        self.config = config
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}, backend={self.backend!r})"

    # -- layout -------------------------------------------------------------------------------

    @property
    def lake_dir(self) -> Path:
        return self.root / "lake"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def audit_settings(self) -> AuditSettings:
        """``audit:`` of ``caretwin.yaml`` (what :class:`~caretwin.audit.AuditLog` needs)."""
        return self.config.audit

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def database_url(self) -> str:
        """The effective SQLAlchemy URL (may contain a password: never print it)."""
        if self.config.database_url is None:
            return f"sqlite:///{self.root / DB_FILE}"
        return normalize_database_url(self.config.database_url)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``: safe to show, unlike the URL."""
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    # -- construction -------------------------------------------------------------------------

    @property
    def shared(self) -> bool:
        """Whether OS users are mapped through the user table (``caretwin init --shared``)."""
        return self.config.shared

    @classmethod
    def init(
        cls, path: Path, database_url: str | None = None, shared_group: str | None = None
    ) -> Workspace:
        """Create a workspace at ``path`` (the folder may exist; a workspace there may not).

        ``shared_group``: a shared workspace, its files readable by that (service) group
        rather than owner-only; its users come from the user table.
        """
        root = Path(path).expanduser()
        if (root / CONFIG_FILE).exists():
            raise ConfigError(f"a workspace already exists at {root}")
        if root.exists() and not root.is_dir():
            raise ConfigError(f"{root} exists and is not a folder")
        try:
            config = WorkspaceConfig(
                name=root.resolve().name or "caretwin",
                database_url=database_url,
                shared=shared_group is not None,
                group=shared_group,
            )
        except ValueError as exc:
            raise ConfigError(f"invalid workspace settings: {exc}") from exc
        gid = None
        if shared_group is not None:
            try:
                gid = group_id(shared_group)
            except KeyError:
                raise ConfigError(
                    f"no group {shared_group!r} on this system (create it with groupadd)",
                    details={"group": shared_group},
                ) from None

        def protect(target: Path) -> None:
            if gid is None:
                make_private(target)
            else:
                make_shared(target, gid)

        try:
            root.mkdir(parents=True, exist_ok=True)
            if gid is not None:
                protect(root)
            for folder in (root / "lake", root / "runs"):  # patient data and run artefacts
                folder.mkdir(exist_ok=True)
                protect(folder)
            config_path = save_config(root, config)
            if gid is not None:
                protect(config_path)
        except OSError as exc:
            raise ConfigError(f"cannot create a workspace at {root}: {exc}") from exc
        ws = cls(root, config)
        try:
            with private_files(shared=config.shared):
                ws.upgrade()  # creates the SQLite file owner-only (group-readable if shared)
            if ws.backend == "sqlite":
                protect(root / DB_FILE)
        except BaseException:
            # Leave no half-made workspace behind: the user fixes the URL and runs init again.
            ws.close()
            config_path.unlink(missing_ok=True)
            raise
        return ws

    @classmethod
    def open(cls, path: Path) -> Workspace:
        """Open the workspace at ``path``, upgrade its database schema to head and reconcile
        the lake with the database (:func:`caretwin.workspace.recover.reconcile`)."""
        root = Path(path).expanduser()
        try:
            config = load_config(root)
        except FileNotFoundError:
            raise WorkspaceNotFound(
                f"no CareTwin workspace at {root} (create one with: caretwin init {root})",
                details={"path": str(root)},
            ) from None
        ws = cls(root, config)
        with private_files(shared=config.shared):  # whatever is missing is made private
            ws.lake_dir.mkdir(exist_ok=True)
            ws.runs_dir.mkdir(exist_ok=True)
            ws.upgrade()
        from caretwin.workspace.recover import reconcile

        reconcile(ws)  # a killed ingest's snapshot gets its record and audit event
        return ws

    @classmethod
    def resolve(cls, path: Path | None) -> Workspace:
        """Find the workspace a command should use.

        Order: the explicit ``path``; ``$CARETWIN_WORKSPACE``; the nearest ``caretwin.yaml``
        from the current folder upwards (like git); finally the per-user default workspace,
        created on first use so a first ``caretwin`` command just works.
        """
        if path is not None:
            return cls.open(path)
        env = os.environ.get("CARETWIN_WORKSPACE")
        if env:
            return cls.open(Path(env))
        cwd = Path.cwd().resolve()
        for folder in (cwd, *cwd.parents):
            if (folder / CONFIG_FILE).is_file():
                return cls.open(folder)
        default = default_workspace_path()
        if (default / CONFIG_FILE).is_file():
            return cls.open(default)
        print(f"caretwin: no workspace found; using default workspace {default}", file=sys.stderr)
        return cls.init(default)

    # -- database -----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The metadata database engine, created on first use."""
        if self._engine is None:
            url = self.database_url
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.startswith("sqlite"):
                # Wait for a concurrent CLI process's write instead of failing at once.
                kwargs = {"connect_args": {"timeout": 30}}
            try:
                self._engine = create_engine(url, **kwargs)
            except (SQLAlchemyError, ImportError, ValueError) as exc:
                raise ConfigError(
                    f"invalid database_url in {self.config_path}: {exc.__class__.__name__}: {exc}"
                ) from exc
        return self._engine

    def upgrade(self) -> None:
        """Bring the metadata database schema to the newest revision."""
        migrate.upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block succeeds, rolls back when it raises.

        Database failures surface as :class:`StoreError`; other exceptions pass through
        unchanged after the rollback.
        """
        if self._sessions is None:
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(f"metadata database error: {_first_line(exc)}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Release pooled database connections (the workspace stays usable; it reconnects)."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._sessions = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
