"""The README's commands run as written, against the files in examples/.

The fast tests check that every command and option the README shows exists and that every file
it names is in the repository; the slow one runs the "Everyday commands" block in bash, line by
line, in a scratch folder, as a user would after `. .venv/bin/activate`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from tests.fhirserver import FhirTestServer
from tests.fhirserver.data import encounter, patient
from tests.shared import shared_path
from typer.testing import CliRunner

from caretwin.cli.app import app
from caretwin.workspace import Workspace

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
runner = CliRunner()


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def _commands(blocks: list[str]) -> list[str]:
    """Each shell command of the bash blocks, comments dropped, ``&&`` split."""
    out: list[str] = []
    for block in blocks:
        for line in block.splitlines():
            code = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
            out += [c.strip() for c in code.split("&&") if c.strip()]
    return out


def _caretwin_args(command: str) -> list[str] | None:
    words = shlex.split(command.split(">")[0])
    return words[1:] if words and words[0] == "caretwin" else None


# the section's first block; its second is the live feeds, which need servers of your own
EVERYDAY = _commands(BASH_BLOCK.findall(_section("Everyday commands"))[:1])
ALL = [c for c in _commands(BASH_BLOCK.findall(README)) if _caretwin_args(c) is not None]


def test_readme_shows_the_commands_it_promises() -> None:
    assert len(EVERYDAY) >= 15
    assert any(c.startswith("caretwin listen mllp") for c in ALL)
    assert any(c.startswith("caretwin sources add fhir") for c in ALL)
    assert ". .venv/bin/activate" in README and "--install-completion" in README


@pytest.mark.parametrize("command", ALL)
def test_every_readme_command_and_option_exists(command: str) -> None:
    args = _caretwin_args(command)
    assert args is not None
    # --help is eager: Click still rejects an unknown command or option before printing help
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, (command, result.output)


def test_files_the_readme_names_exist() -> None:
    named = set(re.findall(r"\b(examples/[\w./-]+\.\w+)", README))
    named |= {f"examples/{m}" for m in re.findall(r"caretwin \w+ (\w+\.yaml)", README)}
    assert {"examples/model.yaml", "examples/exp.yaml"} <= named
    for path in named:
        assert (ROOT / path).is_file(), path
    for doc in re.findall(r"\]\(([\w./-]+)\)", README):
        assert (ROOT / doc).exists(), doc


def test_the_docs_experiment_is_the_example_file() -> None:
    doc = (ROOT / "docs" / "experiments.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml experiment\n(.*?)```", doc, re.S)
    assert block is not None
    assert (ROOT / "examples" / "ward-capacity.yaml").read_text(encoding="utf-8") == block[1]


def test_example_experiments_validate_against_their_models() -> None:
    from caretwin.experiment import load_spec
    from caretwin.experiment.checks import check_against_model
    from caretwin.model import load_definition
    from caretwin.services.models import resolve_model_path

    for name in ("exp.yaml", "ward-capacity.yaml"):
        path = ROOT / "examples" / name
        spec = load_spec(path)
        model = Path(spec.model)
        model = path.parent / model if (path.parent / model).exists() else Path(spec.model)
        check_against_model(spec, load_definition(resolve_model_path(model)))


@pytest.mark.slow  # several seconds: the pull walks every resource type
def test_live_feed_commands_pull_from_a_fhir_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    monkeypatch.setenv("CARETWIN_WORKSPACE", str(ws))
    monkeypatch.setenv("EHR_TOKEN", "readme-token")
    feeds = [c for c in ALL if c.startswith(("caretwin sources", "caretwin pull"))]
    assert len(feeds) == 2
    with FhirTestServer(require_token=True) as srv:
        srv.static_tokens.add("readme-token")
        srv.add(patient(1))
        srv.add(encounter(1))
        for command in feeds:
            args = _caretwin_args(command.replace("https://fhir.example.org/r4", srv.base_url))
            assert args is not None
            result = runner.invoke(app, args)
            assert result.exit_code == 0, (command, result.output)
    # `caretwin listen mllp` runs until stopped: tests/test_hl7_cli.py runs it as a process


@pytest.mark.slow
def test_everyday_commands_run_in_bash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    run_id = (
        "$(caretwin runs list --format json"
        " | python -c 'import json,sys; print(json.load(sys.stdin)[0][\"run_id\"])')"
    )
    script = "\n".join(["set -euo pipefail", *(c.replace("RUN_ID", run_id) for c in EVERYDAY)])
    env = {k: v for k, v in os.environ.items() if k != "CARETWIN_WORKSPACE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)  # the default workspace, if any command fell back to it
    env["CARETWIN_SOF_SUITE"] = str(shared_path("conformance", "sql-on-fhir-v2"))
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    hospital = tmp_path / "hospital"
    assert not (tmp_path / ".local").exists()  # every command used ./hospital
    assert proc.stderr.count(f"workspace: {hospital}") >= 15
    for made in ("reference-hospital.yaml", "twin-schema.json", "calibrated.yaml", "state.json"):
        assert (hospital / made).is_file(), made
    kinds = orjson.loads(
        subprocess.run(
            ["caretwin", "runs", "list", "--format", "json"],
            cwd=hospital,
            env=env,
            capture_output=True,
            check=True,
        ).stdout
    )
    assert {"simulate", "experiment", "calibrate"} <= {r["kind"] for r in kinds}
