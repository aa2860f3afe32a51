"""The HL7 v2 fuzzer, bounded: 1,200 seeded mutated messages through the whole in-process path
(framing, parse, feed, lake commit, ACK) with no unexpected exception, malformed ACK, PHI in
logs or stderr, or resend answered differently. ``make fuzz-hl7`` runs 50,000."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fuzz.hl7_fuzz import fuzz


@pytest.mark.slow
def test_bounded_fuzz_run_has_no_crash(tmp_path: Path) -> None:
    report, fuzzer = fuzz(1200, seed=7, root=tmp_path, batch=200)
    assert report.cases == 1200
    assert (report.crashed, dict(report.crashes)) == (0, {}), fuzzer.examples
    # The run exercises every answer, resends included.
    assert report.accepted > 50 and report.rejected > 500 and report.resends > 20
    assert set(report.acks) == {"AA", "AE", "AR"}
