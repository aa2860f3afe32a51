"""What a user sees around any command: the workspace it used, shell completion, and a
``views test`` run whose optional tests do not read as a failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from tests.shared import shared_path
from typer.testing import CliRunner

from caretwin.cli.app import app
from caretwin.model import REFERENCE_HOSPITAL
from caretwin.workspace import Workspace

runner = CliRunner()


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    return root


@pytest.mark.parametrize(
    "args",
    [
        ["validate", REFERENCE_HOSPITAL],
        ["validate", REFERENCE_HOSPITAL, "--format", "json"],
        ["runs", "list"],
        ["audit", "list"],
        ["views", "list"],
    ],
)
def test_every_summary_names_the_workspace_used(ws: Path, args: list[str]) -> None:
    result = runner.invoke(app, [*args, "-w", str(ws)])
    assert result.exit_code == 0, result.output
    # on stderr, so --format json output stays one JSON document
    assert result.stderr.splitlines()[-1] == f"workspace: {ws}"
    assert "workspace:" not in result.stdout
    if "json" in args:
        orjson.loads(result.stdout)


def test_workspace_found_from_the_environment_is_named_too(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARETWIN_WORKSPACE", str(ws))
    result = runner.invoke(app, ["runs", "list"])
    assert result.exit_code == 0, result.output
    assert f"workspace: {ws}" in result.stderr


def test_a_failed_command_names_its_workspace_after_the_error(ws: Path, tmp_path: Path) -> None:
    empty = tmp_path / "nothing-to-ingest"
    empty.mkdir()
    result = runner.invoke(app, ["ingest", str(empty), "-w", str(ws)])
    assert result.exit_code == 4, result.output
    lines = result.stderr.splitlines()
    assert lines[-2].startswith("error: ") and lines[-1] == f"workspace: {ws}"


def test_commands_without_a_workspace_print_none(ws: Path) -> None:
    result = runner.invoke(app, ["examples"])
    assert result.exit_code == 0 and "workspace:" not in result.output


def test_shell_completion_is_offered() -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
    # `--show-completion` detects the shell it was typed in from the process tree (shellingham),
    # so it runs here as a user runs it: from bash. In-process, the test runner's own parents
    # (make's sh, an xdist worker) decide, and `sh` has no completion. (`; exit $?` keeps bash from
    # exec-ing the command in its own place.)
    caretwin = Path(sys.executable).with_name("caretwin")
    script = subprocess.run(
        ["bash", "-c", f"'{caretwin}' --show-completion; exit $?"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert "_CARETWIN_COMPLETE=complete_bash" in script.stdout


def test_views_test_sets_experimental_failures_apart(ws: Path) -> None:
    # fn_boundary.json holds only experimental tests, none supported yet
    path = shared_path("conformance", "sql-on-fhir-v2") / "fn_boundary.json"
    result = runner.invoke(app, ["views", "test", str(path), "-w", str(ws)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith("FAIL")]
    assert "experimental (not required): 0 of 8 pass" in lines
    assert sum(line.startswith("  not yet: fn_boundary.json :: ") for line in lines) == 8
    assert lines[-1].startswith("SQL on FHIR v2: 0/0 non-experimental passed")
