"""A killed multi-worker ingest leaves no worker process nor resource tracker running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.ndjson_helpers import stay, write_ndjson
from tests.procs import HAVE_PROC_CHILDREN, cmdline, kill_parent_and_watch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_PROC_CHILDREN, reason="needs Linux /proc/PID/task/TID/children"),
]


def _write_encounters(path: Path, n: int) -> None:
    start, end = "2025-01-01T10:00:00Z", "2025-01-02T10:00:00Z"
    write_ndjson(
        path,
        (
            stay(f"enc-{i}", f"p{i % 997}", start, end)
            | {"location": [{"location": {"reference": f"Location/l{i % 13}"}}]}
            for i in range(n)
        ),
    )


def test_killing_the_ingest_kills_its_workers_and_resource_tracker(tmp_path: Path) -> None:
    data = tmp_path / "Encounter.000.ndjson"
    _write_encounters(data, 120_000)  # ~35 MB: 9 chunks, a few seconds of parsing
    script = (
        "import sys; from pathlib import Path; from caretwin.ingest import ingest_paths; "
        "ingest_paths(Path(sys.argv[1]), [Path(sys.argv[2])], workers=2)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "lake"), str(data)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )

    def workers_up(seen: set[int]) -> bool:
        return sum("multiprocessing.spawn" in cmdline(p) for p in seen) >= 2 and any(
            "resource_tracker" in cmdline(p) for p in seen
        )

    left = kill_parent_and_watch(proc, workers_up)
    assert not left, f"processes outlived the killed ingest: {left}"
