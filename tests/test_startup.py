"""Start-up cost of the ``caretwin`` command, checked by what gets imported (deterministic).

``caretwin --help`` must not load the data stack: the root group lists commands from a static
registry and loads an area module only when one of its commands runs, and area modules import
services inside their command functions. CPU times are measured in benchmarks/startup_bench.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import typer
import typer.main
from typer.testing import CliRunner

from caretwin.cli.app import AREAS, COMMANDS, app, area_group

HEAVY = (
    "pandas",
    "scipy",
    "alembic",
    "httpx",
    "numba",
    "duckdb",
    "plotly",
    "pyarrow",
    "sqlalchemy",
    "numpy",
    "pydantic",
    "fastapi",  # caretwin serve only
    "uvicorn",
    "starlette",
)

# sources_cmds declares ``--auth`` with the AuthMode enum, a pydantic module of the connectors.
KNOWN: dict[str, set[str]] = {"caretwin.cli.sources_cmds": {"pydantic"}}


def _run_python(code: str, *args: str) -> Any:
    """Run ``code`` in a fresh interpreter; it prints one JSON document last."""
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        env=None,
        timeout=120,
    ).stdout
    return json.loads(out.splitlines()[-1])


def test_importing_the_cli_app_loads_no_heavy_library() -> None:
    code = f"""
import json, sys
import caretwin.cli.app
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""
    assert _run_python(code) == []


def test_help_and_version_load_no_area_and_no_heavy_library() -> None:
    code = f"""
import contextlib, io, json, sys
from caretwin.cli.app import main
outputs = []
for args in (["--help"], ["--version"], []):
    sys.argv = ["caretwin", *args]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
        main()
    outputs.append(buf.getvalue())
loaded = sorted(m for m in sys.modules if m.endswith("_cmds") or m.split(".")[0] in {HEAVY!r})
print(json.dumps({{"outputs": outputs, "loaded": loaded}}))
"""
    result = _run_python(code)
    assert result["loaded"] == []
    help_text, version, bare = result["outputs"]
    assert version.startswith("caretwin ")
    for text in (help_text, bare):
        listed = {line.strip("│ ").split(" ")[0] for line in text.splitlines()}
        assert set(COMMANDS) <= listed, set(COMMANDS) - listed


def test_each_area_module_imports_without_heavy_libraries() -> None:
    order = sorted(AREAS, key=lambda m: m in KNOWN)
    code = f"""
import importlib, json, sys
heavy = {HEAVY!r}
new = {{}}
for area in {order!r}:
    before = {{m for m in heavy if m in sys.modules}}
    importlib.import_module(area)
    new[area] = sorted({{m for m in heavy if m in sys.modules}} - before)
print(json.dumps(new))
"""
    loaded = _run_python(code)
    assert {a: m for a, m in loaded.items() if set(m) - KNOWN.get(a, set())} == {}


def _first_paragraph(cmd: Any) -> str:
    text: str = cmd.short_help or cmd.help or ""
    return " ".join(text.split("\n\n")[0].split())


def test_registry_matches_what_the_areas_register() -> None:
    registered: dict[str, tuple[str, str]] = {}
    for area in AREAS:
        for name, cmd in area_group(area).commands.items():
            registered[name] = (area.removeprefix("caretwin.cli."), _first_paragraph(cmd))
    assert registered == COMMANDS


def _walk(cmd: Any, path: list[str]) -> list[list[str]]:
    paths = [path]
    for name, sub in getattr(cmd, "commands", {}).items():
        paths += _walk(sub, [*path, name])
    return paths


def test_every_command_help_works() -> None:
    root = typer.main.get_group(typer.Typer())
    for area in AREAS:
        root.commands.update(area_group(area).commands)
    paths = [p for p in _walk(root, []) if p]
    assert len(paths) > len(COMMANDS)
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, (path, result.output)
        assert f"caretwin {' '.join(path)}" in result.output, path


def test_synth_help_states_the_real_default_start_date() -> None:
    from caretwin.synth import DEFAULT_START_DATE

    result = CliRunner().invoke(app, ["synth", "--help"], env={"COLUMNS": "200"})
    assert f"Default: {DEFAULT_START_DATE.isoformat()}" in result.output
