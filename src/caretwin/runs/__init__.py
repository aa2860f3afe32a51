"""Run manifests, the run record and reproduction.

Every simulation, calibration, synthesis or demo run gets a folder ``<workspace>/runs/<run_id>``
with a ``manifest.json`` and a row in the metadata database; see :class:`RunRecorder`.
"""

from __future__ import annotations

from caretwin.runs.manifest import MANIFEST_FILE, Manifest, new_run_id
from caretwin.runs.recorder import RunRecorder, RunSummary, get_run, list_runs, run_dir
from caretwin.runs.reproduce import ReproResult, register_reproducer, reproduce

__all__ = [
    "MANIFEST_FILE",
    "Manifest",
    "ReproResult",
    "RunRecorder",
    "RunSummary",
    "get_run",
    "list_runs",
    "new_run_id",
    "register_reproducer",
    "reproduce",
    "run_dir",
]
