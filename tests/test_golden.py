"""Golden tests: seeded example runs against committed expected outputs.

A failure here means a change altered what a seeded run produces. If that was intended (a new
semantics, a fixed bug), regenerate with ``python tests/golden/regenerate.py`` and say so in the
commit; if not, it is a reproducibility regression.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from caretwin.model import (
    REFERENCE_HOSPITAL,
    REFERENCE_HOSPITAL_STAFFED,
    example_path,
    load_definition,
    parse_definition,
)
from caretwin.model.definition import TwinDefinition
from caretwin.sim.runner import simulate
from caretwin.synth import generate

GOLDEN = Path(__file__).parent / "golden"
DOCS = Path(__file__).parents[1] / "docs" / "twin-definition.md"

# Floats are compared to 1e-12 relative: bit-identical on one platform, but the golden files
# must survive another libm's last-bit rounding of exp/log.
REL = 1e-12


def _clinic() -> TwinDefinition:
    text = DOCS.read_text(encoding="utf-8").split("```yaml model\n", 1)[1].split("```", 1)[0]
    return parse_definition(text, source="docs clinic")


def _short(name: str) -> TwinDefinition:
    d = load_definition(example_path(name))
    run = d.run.model_copy(update={"warmup_days": 7, "run_days": 56, "cooldown_days": 7})
    return d.model_copy(update={"run": run})


def _rh1_short() -> TwinDefinition:
    return _short(REFERENCE_HOSPITAL)


def _rh1_staffed_short() -> TwinDefinition:
    return _short(REFERENCE_HOSPITAL_STAFFED)


CASES: dict[str, tuple[Any, int, int]] = {
    "clinic-seed1": (_clinic, 3, 1),
    "rh1-56days-seed11": (_rh1_short, 2, 11),
    "rh1-staffed-56days-seed11": (_rh1_staffed_short, 2, 11),
}


def run_case(name: str) -> dict[str, Any]:
    make, reps, seed = CASES[name]
    res = simulate(make(), replications=reps, seed=seed)
    return {
        "model_hash": res.model_hash,
        "events": [r.events for r in res.replications],
        "per_replication": [r.kpis for r in res.replications],
    }


def synth_digest() -> dict[str, Any]:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    with tempfile.TemporaryDirectory() as tmp:
        rep = generate(d, 7, 3, Path(tmp), warmup_days=7)
        return {
            "counts": rep.counts,
            "files": {
                f.name: hashlib.sha256(f.read_bytes()).hexdigest()
                for f in sorted(Path(tmp).iterdir())
                if f.suffix in (".ndjson", ".csv")
            },
        }


def _close(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=REL, nan_ok=True), path
    else:
        assert a == b, path


@pytest.mark.parametrize("name", sorted(CASES))
def test_seeded_run_matches_golden(name: str) -> None:
    expected = orjson.loads((GOLDEN / f"{name}.expected.json").read_bytes())
    _close(expected, run_case(name))


def test_generator_output_matches_golden() -> None:
    expected = orjson.loads((GOLDEN / "synth-rh1-7days.expected.json").read_bytes())
    assert synth_digest() == expected
