"""Shared fixtures: a SQLite workspace, and a PostgreSQL URL with a throwaway schema per test.

PostgreSQL tests skip (with the reason) when no server answers on 127.0.0.1:5432 — handy on a
laptop — but CI sets ``CARETWIN_REQUIRE_POSTGRES=1`` and then an unreachable server *fails* the
tests, so the PostgreSQL path can never be skipped silently. ``CARETWIN_TEST_POSTGRES_URL`` points
the tests at another server. Browser tests follow the same rule with ``CARETWIN_REQUIRE_BROWSER=1``
(headless Chromium at ``CARETWIN_CHROMIUM``, default Debian's ``/usr/bin/chromium``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from caretwin.workspace import Workspace

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_base_url() -> str:
    return os.environ.get("CARETWIN_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _libpq_dsn(sqlalchemy_url: str) -> str:
    """The same URL in the form psycopg accepts (no ``+driver``)."""
    _scheme, rest = sqlalchemy_url.split("://", 1)
    return "postgresql://" + rest


@pytest.fixture(scope="session")
def _pg_server() -> str | None:
    """``None`` when the server is reachable, else why not."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a test dependency
        return f"psycopg is not installed: {exc}"
    try:
        with psycopg.connect(_libpq_dsn(_pg_base_url()), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {_pg_base_url()} is unreachable: {str(exc).strip()}"
    return None


@pytest.fixture
def pg_url(_pg_server: str | None) -> Iterator[str]:
    """A SQLAlchemy URL whose ``search_path`` is a fresh schema, dropped after the test.

    A schema per test keeps reruns and parallel tests clean without needing CREATE DATABASE.
    """
    if _pg_server is not None:
        if os.environ.get("CARETWIN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CARETWIN_REQUIRE_POSTGRES=1 but {_pg_server}")
        pytest.skip(_pg_server)
    import psycopg

    schema = f"ct_test_{uuid.uuid4().hex[:12]}"
    base = _pg_base_url()
    with psycopg.connect(_libpq_dsn(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(_libpq_dsn(base), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session (a playwright ``Browser``); pages are per test.

    Skips with the reason when playwright or the browser is missing, and fails instead under
    ``CARETWIN_REQUIRE_BROWSER=1`` (CI), so the layout tests can never be skipped silently.
    """
    executable = os.environ.get("CARETWIN_CHROMIUM", "/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing = f"playwright is not installed ({exc}); pip install playwright"
    else:
        missing = "" if Path(executable).exists() else f"no Chromium at {executable}"
    if missing:
        if os.environ.get("CARETWIN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CARETWIN_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh SQLite-backed workspace in ``tmp_path/ws``."""
    ws = Workspace.init(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """The same test on a SQLite workspace and on a PostgreSQL-backed one."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    ws = Workspace.init(tmp_path / f"ws-{request.param}", database_url=url)
    yield ws
    ws.close()


@pytest.fixture(autouse=True)
def _isolated_caretwin_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Never let a test touch the developer's real default workspace."""
    monkeypatch.delenv("CARETWIN_WORKSPACE", raising=False)
    monkeypatch.setenv("CARETWIN_HOME", str(tmp_path_factory.mktemp("caretwin-home") / "default"))


# Figures a test wants a reader of the CI log to see (e.g. the SQL on FHIR v2 pass count):
# pytest captures print() of passing tests, so they are collected here and printed at the end.
# They travel as the test's user properties, which pytest-xdist sends from its workers to the
# process that prints the summary (a module-level list would stay in the worker).
FIGURES: list[str] = []
_FIGURE = "caretwin_figure"


@pytest.fixture
def report_figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Call with a line to print in the test session's closing summary."""

    def add(line: str) -> None:
        request.node.user_properties.append((_FIGURE, line))

    return add


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        FIGURES.extend(str(v) for k, v in report.user_properties if k == _FIGURE)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("CareTwin figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
