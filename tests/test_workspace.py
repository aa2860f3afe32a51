"""Workspace creation, opening, resolution and the unit-of-work session."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import inspect, text

from caretwin.errors import ConfigError, StoreError, WorkspaceNotFound
from caretwin.store import current_revision, head_revision
from caretwin.workspace import CONFIG_FILE, DB_FILE, Workspace, WorkspaceConfig
from caretwin.workspace.config import normalize_database_url

TABLES = {"audit_events", "runs", "snapshots", "alembic_version"}


def test_init_creates_layout_config_and_schema(tmp_path: Path) -> None:
    root = tmp_path / "hospital"
    with Workspace.init(root) as ws:
        assert ws.root == root.resolve()
        assert ws.lake_dir == ws.root / "lake" and ws.lake_dir.is_dir()
        assert ws.runs_dir == ws.root / "runs" and ws.runs_dir.is_dir()
        assert (root / DB_FILE).is_file()
        assert ws.backend == "sqlite"
        saved = yaml.safe_load((root / CONFIG_FILE).read_text())
        assert saved == {"name": "hospital", "database_url": None, "timezone": "UTC"}
        assert set(inspect(ws.engine).get_table_names()) >= TABLES
        assert current_revision(ws.engine) == head_revision()


def test_init_refuses_an_existing_workspace(workspace: Workspace) -> None:
    with pytest.raises(ConfigError, match="already exists"):
        Workspace.init(workspace.root)


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        Workspace.init(target)


def test_init_with_unreachable_database_leaves_no_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with pytest.raises(StoreError):
        Workspace.init(root, database_url="postgresql://nobody@127.0.0.1:1/nothing")
    assert not (root / CONFIG_FILE).exists()
    # ...so fixing the URL and running init again works.
    Workspace.init(root).close()


def test_open_missing_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFound, match="caretwin init"):
        Workspace.open(tmp_path / "nothing-here")


def test_open_upgrades_an_empty_database(tmp_path: Path) -> None:
    """A workspace whose database predates the schema (or was deleted) is brought to head."""
    root = tmp_path / "ws"
    Workspace.init(root).close()
    (root / DB_FILE).unlink()
    with Workspace.open(root) as ws:
        assert current_revision(ws.engine) == head_revision()
        assert set(inspect(ws.engine).get_table_names()) >= TABLES


def test_open_rejects_bad_config(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    (root / CONFIG_FILE).write_text("name: x\ntimezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match="timezone"):
        Workspace.open(root)
    (root / CONFIG_FILE).write_text("name: x\nsurprise: 1\n")
    with pytest.raises(ConfigError, match="surprise"):
        Workspace.open(root)
    (root / CONFIG_FILE).write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        Workspace.open(root)
    (root / CONFIG_FILE).write_text("name: [unclosed\n")
    with pytest.raises(ConfigError):
        Workspace.open(root)


def test_config_model() -> None:
    assert WorkspaceConfig(name="a").timezone == "UTC"
    assert WorkspaceConfig(name="a", timezone="Europe/Paris").timezone == "Europe/Paris"
    with pytest.raises(ValueError):
        WorkspaceConfig(name=" ")


def test_normalize_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_PW", "s3cret")
    assert (
        normalize_database_url("postgresql://u:${CT_PW}@h/db")
        == "postgresql+psycopg://u:s3cret@h/db"
    )
    assert normalize_database_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_resolve_explicit_path(workspace: Workspace) -> None:
    with Workspace.resolve(workspace.root) as ws:
        assert ws.root == workspace.root


def test_resolve_env_var(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARETWIN_WORKSPACE", str(workspace.root))
    with Workspace.resolve(None) as ws:
        assert ws.root == workspace.root


def test_resolve_walks_up_from_cwd(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = workspace.root / "lake" / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    with Workspace.resolve(None) as ws:
        assert ws.root == workspace.root


def test_resolve_creates_default_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home-ws"
    monkeypatch.setenv("CARETWIN_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    with Workspace.resolve(None) as ws:
        assert ws.root == home.resolve()
    err = capsys.readouterr().err
    assert "default workspace" in err and err.count("\n") == 1
    with Workspace.resolve(None) as ws:
        assert ws.root == home.resolve()
    assert capsys.readouterr().err == ""


def test_session_commits_and_rolls_back(any_workspace: Workspace) -> None:
    ws = any_workspace
    with ws.session() as s:
        s.execute(text("CREATE TABLE scratch (v INTEGER)"))
    with ws.session() as s:
        s.execute(text("INSERT INTO scratch VALUES (1)"))
    with pytest.raises(RuntimeError), ws.session() as s:
        s.execute(text("INSERT INTO scratch VALUES (2)"))
        raise RuntimeError("boom")
    with ws.session() as s:
        assert s.execute(text("SELECT v FROM scratch")).scalars().all() == [1]


def test_session_translates_database_errors(any_workspace: Workspace) -> None:
    with pytest.raises(StoreError, match="metadata database error"), any_workspace.session() as s:
        s.execute(text("SELECT * FROM no_such_table"))


@pytest.mark.postgres
def test_postgres_workspace_keeps_url_and_reopens(pg_url: str, tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "pg", database_url=pg_url) as ws:
        assert ws.backend == "postgresql"
        assert not (ws.root / DB_FILE).exists()
    with Workspace.open(tmp_path / "pg") as ws:
        assert ws.config.database_url == pg_url
        assert current_revision(ws.engine) == head_revision()
