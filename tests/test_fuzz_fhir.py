"""The FHIR fuzzer, bounded: mutated lines through the real ingest, no crash, every line
accounted for (tests/fuzz/fhir_fuzz.py; ``make fuzz-fhir`` runs 50,000 cases)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.fuzz.fhir_fuzz import run


@pytest.mark.slow
def test_fhir_fuzz_bounded(tmp_path: Path, report_figure: Callable[[str], None]) -> None:
    out = run(2000, seed=20261203, batch=500, work=tmp_path)
    report_figure(f"FHIR fuzz (bounded): {out.summary()}")
    crashes = [f"{n} x {sig}: {out.examples[sig][:200]!r}" for sig, n in out.crashes.items()]
    assert out.crashed == 0, crashes
    assert out.unaccounted == 0, out.problems
    assert out.cases == 2000 and out.landed > 300 and out.rejected > 300
