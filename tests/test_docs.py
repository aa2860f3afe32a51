"""Documentation that can be checked cheaply: model examples in docs/ load and run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from caretwin.model import apply_scenario, parse_definition
from caretwin.sim.runner import simulate

DOCS = Path(__file__).parents[1] / "docs"
MODEL_BLOCK = re.compile(r"```yaml model\n(.*?)```", re.S)


def test_model_examples_in_docs_are_valid_and_run() -> None:
    blocks = [
        (path.name, block)
        for path in sorted(DOCS.glob("*.md"))
        for block in MODEL_BLOCK.findall(path.read_text(encoding="utf-8"))
    ]
    assert blocks, "no ```yaml model blocks found in docs/"
    for name, text in blocks:
        d = parse_definition(text, source=name)
        res = simulate(d, replications=2)
        assert all(s.n == 2 for s in res.summary.values())
        for scenario in d.scenarios:
            apply_scenario(d, scenario)


PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_readme_python_blocks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python API section, run as written from the repository root."""
    readme = DOCS.parent / "README.md"
    blocks = PYTHON_BLOCK.findall(readme.read_text(encoding="utf-8"))
    assert blocks, "no ```python blocks in README.md"
    monkeypatch.chdir(DOCS.parent)
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i}", "exec"), {"__name__": "readme"})
