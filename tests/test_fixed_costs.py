"""Fixed costs of a short simulate, checked by behaviour (deterministic); the seconds themselves
are measured in benchmarks/fixed_costs.py.

* ``--no-report`` does not load the report stack (jinja2, the report modules);
* a cold numba cache is detected, and the first run says it is compiling instead of sitting
  silent for tens of seconds; ``caretwin warmup`` (run by ``make install``) compiles ahead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from caretwin.services.models import resolve_model_path

CLI = "import sys; from caretwin.cli.app import main; sys.exit(main())"


def _one_day_model(folder: Path) -> Path:
    data = yaml.safe_load(resolve_model_path("reference-hospital").read_text(encoding="utf-8"))
    data["run"].update(warmup_days=0, run_days=1, cooldown_days=0, replications=1)
    path = folder / "one-day.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    ).stdout


def test_simulate_without_report_does_not_load_the_report_stack(tmp_path: Path) -> None:
    model = _one_day_model(tmp_path)
    code = """
import json, sys
from caretwin.workspace.workspace import Workspace
from caretwin.services.context import ServiceContext
from caretwin.services.simulation import simulate_model
ws = Workspace.init(__import__("pathlib").Path(sys.argv[1]))
ctx = ServiceContext.for_cli(ws.root)
simulate_model(ctx, sys.argv[2], replications=1, workers=1, report=False, engine="reference")
print(json.dumps(sorted(m for m in ("jinja2", "caretwin.reports") if m in sys.modules)))
"""
    out = _python(code, str(tmp_path / "ws"), str(model))
    assert out.splitlines()[-1] == "[]"


def test_an_empty_numba_cache_is_detected_as_cold(tmp_path: Path) -> None:
    code = "from caretwin.sim.fast import compile_is_due; print(compile_is_due())"
    out = _python(code, env={"NUMBA_CACHE_DIR": str(tmp_path)})
    assert out.strip() == "True"


@pytest.mark.slow
def test_first_run_on_a_cold_cache_says_it_compiles_then_the_next_is_quiet(
    tmp_path: Path,
) -> None:
    model = _one_day_model(tmp_path)
    env = {
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "CARETWIN_WORKSPACE": str(tmp_path / "ws"),
    }
    _python(CLI, "init", str(tmp_path / "ws"), env=env)
    args = ("simulate", str(model), "--reps", "1", "--workers", "1", "--no-report")

    def stderr() -> str:
        return subprocess.run(
            [sys.executable, "-c", CLI, *args],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **env},
            timeout=600,
        ).stderr

    first = stderr()
    assert first.count("compiling the fast engine once") == 1
    assert "fast engine compiled in" in first
    assert "compiling" not in stderr()
    warm = _python(CLI, "warmup", env=env)
    assert "already compiled" in warm


def test_revision_files_are_named_by_their_revision_in_chain_order() -> None:
    # the store's up-to-date check without Alembic relies on this (caretwin.store.migrate)
    from alembic.script import ScriptDirectory

    from caretwin.store.migrate import alembic_config, head_revision, newest_revision_file

    script = ScriptDirectory.from_config(alembic_config())
    chain = [rev.revision for rev in script.walk_revisions()][::-1]  # oldest first
    files = sorted(
        p.stem for p in (Path(script.dir) / "versions").glob("*.py") if p.stem[0].isdigit()
    )
    assert chain == files
    assert newest_revision_file() == head_revision()


def test_opening_an_up_to_date_workspace_does_not_import_alembic(tmp_path: Path) -> None:
    _python(CLI, "init", str(tmp_path / "ws"))
    code = """
import json, sys
from pathlib import Path
from caretwin.workspace.workspace import Workspace
Workspace.open(Path(sys.argv[1]))
print(json.dumps("alembic" in sys.modules))
"""
    assert _python(code, str(tmp_path / "ws")).splitlines()[-1] == "false"
