"""The layers of docs/architecture.md are held: ``lint-imports`` (run by ``make lint``) passes on
the source tree and fails on a copy of it with one wrong-way import added.

The real tree is never touched: each broken case copies ``src/caretwin`` (and the contracts in
``pyproject.toml``) into a temporary folder and points ``lint-imports`` there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# the contracts' names in pyproject.toml
LAYERS = "layers (docs/architecture.md)"
ACYCLIC = "no cycles between packages"
FACADE = "nothing imports the public API facade (caretwin/__init__.py)"


def _lint_imports() -> str:
    found = Path(sys.executable).with_name("lint-imports")
    if found.exists():
        return str(found)
    on_path = shutil.which("lint-imports")
    if on_path is None:
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    return on_path


def _run(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "COLUMNS": "200"}
    return subprocess.run(
        [_lint_imports(), "--no-cache", str(project / "pyproject.toml")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(
        ROOT / "src" / "caretwin",
        project / "src" / "caretwin",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy2(ROOT / "pyproject.toml", project / "pyproject.toml")
    return project


def test_the_source_tree_keeps_every_contract() -> None:
    result = _run(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    for contract in LAYERS, ACYCLIC, FACADE:
        assert f"{contract} KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "broken", "shown"),
    [
        # a bottom package reaching up to the service layer: the layers contract
        (
            "lake/sql.py",
            "from caretwin.services.context import ServiceContext",
            LAYERS,
            "caretwin.lake.sql -> caretwin.services.context",
        ),
        # the workspace importing the service layer again (the cycle the layers removed)
        (
            "workspace/recover.py",
            "from caretwin.services import ServiceContext",
            LAYERS,
            "caretwin.workspace.recover -> caretwin.services",
        ),
        # type-only imports count: the store naming the workspace above it
        (
            "store/records.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from caretwin.workspace import Workspace",
            LAYERS,
            "caretwin.store.records -> caretwin.workspace",
        ),
        # two domain packages may import each other one way only: quality <- reports exists
        (
            "quality/lineage.py",
            "from caretwin.reports import report",
            ACYCLIC,
            ".quality -> .reports",
        ),
        # the views reaching back into ingestion (what caretwin.fhir ended)
        (
            "views/canonical.py",
            "from caretwin.ingest.tables import TableBuilder",
            ACYCLIC,
            ".views -> .ingest",
        ),
        # nothing inside CareTwin imports the public API facade
        (
            "sim/result.py",
            "import caretwin",
            FACADE,
            "caretwin.sim.result -> caretwin",
        ),
    ],
)
def test_a_wrong_way_import_breaks_the_lint(
    tmp_path: Path, module: str, wrong_import: str, broken: str, shown: str
) -> None:
    project = _copy(tmp_path)
    target = project / "src" / "caretwin" / module
    target.write_text(target.read_text() + "\n" + wrong_import + "  # wrong way\n")
    result = _run(project)
    assert result.returncode == 1, result.stdout + result.stderr
    # (an upward import usually closes a cycle too, so the acyclic contract may break as well)
    broken_names = {
        line.split(" BROKEN")[0] for line in result.stdout.splitlines() if " BROKEN" in line
    }
    assert broken in broken_names, result.stdout
    assert shown in result.stdout, result.stdout


def test_lint_runs_lint_imports() -> None:
    """``make lint`` (which CI runs) includes the import contracts."""
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "lint-imports" in lint
