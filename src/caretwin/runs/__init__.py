"""Run manifests and the run record.

Every simulation, calibration, synthesis or demo run gets a folder ``<workspace>/runs/<run_id>``
with a ``manifest.json`` and a row in the metadata database; see :class:`RunRecorder`.
Reproducing a run is a service operation: :mod:`caretwin.services.reproduce`.
"""

from __future__ import annotations

from caretwin.runs.manifest import MANIFEST_FILE, Manifest, new_run_id
from caretwin.runs.recorder import RunRecorder, RunSummary, get_run, list_runs, run_dir

__all__ = [
    "MANIFEST_FILE",
    "Manifest",
    "RunRecorder",
    "RunSummary",
    "get_run",
    "list_runs",
    "new_run_id",
    "run_dir",
]
