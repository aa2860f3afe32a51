"""Patient data and secrets are owner-only; ``sources add`` warns about exposed credentials."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.model_helpers import short_reference_model
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.cli.app import app
from caretwin.connectors.config import SourceConfig
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.services.simulation import simulate_model
from caretwin.services.sources import add_source
from caretwin.workspace import DB_FILE, Workspace, WorkspaceConfig
from caretwin.workspace.config import save_config
from caretwin.workspace.private import holds_password

DATA = Path(__file__).parent / "data" / "fhir"
ADMIN = Actor("root", frozenset({"admin"}))


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default umask (022): what the code must override, not what the test sets."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _open_to_others(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): oct(_mode(p))
        for p in [folder, *folder.rglob("*")]
        if not p.is_symlink() and _mode(p) & 0o077
    }


def _short_model(tmp_path: Path) -> Path:
    return short_reference_model(
        tmp_path / "rh1-short.yaml", warmup_days=1, run_days=7, cooldown_days=1, replications=2
    )


@pytest.mark.slow
def test_lake_runs_and_database_are_owner_only_after_init_ingest_and_simulate(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    with Workspace.init(root) as ws:
        assert _mode(root / "lake") == _mode(root / "runs") == 0o700
        assert _mode(root / DB_FILE) == 0o600
        assert _mode(root / "caretwin.yaml") == 0o644  # no secret in it
        ctx = ServiceContext(ws, ADMIN)
        ingest(ctx, [DATA])
        run = simulate_model(ctx, _short_model(tmp_path), workers=1)
    assert (run.run_dir / "report.html").exists()
    assert list((root / "lake" / "tables").rglob("*.parquet"))
    assert _open_to_others(root / "lake") == {}
    assert _open_to_others(root / "runs") == {}
    assert _mode(root / DB_FILE) == 0o600
    assert os.umask(0o022) == 0o022  # an operation restores the caller's umask


def test_config_with_a_database_password_is_owner_only(tmp_path: Path) -> None:
    secret = WorkspaceConfig(name="ws", database_url="postgresql://app:s3cret@db.example/ct")
    path = save_config(tmp_path, WorkspaceConfig(name="ws"))
    assert _mode(path) == 0o644
    save_config(tmp_path, secret)  # an existing readable file is tightened too
    assert _mode(path) == 0o600 and "s3cret" in path.read_text()
    assert holds_password("postgresql://app:s3cret@db/ct")
    for url in (
        "postgresql://app:${PGPASSWORD}@db/ct",
        "postgresql://app:$PGPASSWORD@db/ct",
        "postgresql://app@db/ct",
        "sqlite:///x.db",
        None,
    ):
        assert not holds_password(url), url


def test_sources_add_warns_on_plain_http_credentials_and_readable_keys(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    with Workspace.init(tmp_path / "ws") as ws:
        ctx = ServiceContext(ws, ADMIN)
        smart = {"mode": "smart", "client_id": "c", "private_key_file": str(key)}
        shown = add_source(
            ctx,
            SourceConfig(name="ehr", base_url="http://ehr.example.org/fhir", auth=smart),
        )
        assert len(shown.warnings) == 2
        assert "http://ehr.example.org/fhir" in shown.warnings[0]
        assert "readable by other users (mode 644)" in shown.warnings[1]

        key.chmod(0o600)
        secure = SourceConfig(name="ok", base_url="https://ehr.example.org/fhir", auth=smart)
        assert add_source(ctx, secure).warnings == []
        bearer = {"mode": "bearer", "token_env": "TOKEN"}
        local = SourceConfig(name="local", base_url="http://127.0.0.1:8080/fhir", auth=bearer)
        assert add_source(ctx, local).warnings == []  # loopback never leaves the machine
        anonymous = SourceConfig(name="open", base_url="http://hapi.example.org/fhir")
        assert add_source(ctx, anonymous).warnings == []
        in_url = SourceConfig(name="basic", base_url="http://u:p@ehr.example.org/fhir")
        assert len(add_source(ctx, in_url).warnings) == 1


def test_cli_sources_add_prints_warnings_to_stderr(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    result = CliRunner().invoke(
        app,
        ["sources", "add", "fhir", "ehr", "--base-url", "http://ehr.example.org/fhir",
         "--auth", "bearer", "--token-env", "TOKEN", "--format", "json", "-w", str(ws)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: credentials for http://ehr.example.org/fhir" in result.stderr
    assert "warning" not in result.stdout.split('"warnings"')[0]
