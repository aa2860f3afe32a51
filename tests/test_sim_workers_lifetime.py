"""A killed simulation on local worker processes leaves no replication running."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tests.procs import HAVE_PROC_CHILDREN, kill_parent_and_watch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_PROC_CHILDREN, reason="needs Linux /proc/PID/task/TID/children"),
]


def test_killing_a_simulation_kills_its_replication_workers() -> None:
    script = (
        "from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition; "
        "from caretwin.sim.runner import simulate; "
        "simulate(load_definition(example_path(REFERENCE_HOSPITAL)), replications=200, "
        "workers=2, engine='reference')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    left = kill_parent_and_watch(proc, lambda seen: len(seen) >= 2)
    assert not left, f"processes outlived the killed simulation: {left}"
