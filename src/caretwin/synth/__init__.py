"""The synthetic hospital: run a twin definition as ground truth and write its EHR and CMMS data.

``generate(defn, days, seed, out_dir, start_date=..., warmup_days=None) -> SynthReport`` runs one
replication with the simulation engine and writes FHIR R4 NDJSON (Patient, Location, Encounter,
ServiceRequest, Procedure, Device), ``workorders.csv`` and ``synth-manifest.json`` following
docs/data-contract.md. ``write_dataset`` does the writing for an existing trace.
"""

from __future__ import annotations

from caretwin.synth.generate import (
    MANIFEST_FILE,
    RESOURCE_TYPES,
    WORKORDERS_FILE,
    SynthReport,
    generate,
    write_dataset,
)
from caretwin.synth.window import DEFAULT_START_DATE, Window

__all__ = [
    "DEFAULT_START_DATE",
    "MANIFEST_FILE",
    "RESOURCE_TYPES",
    "WORKORDERS_FILE",
    "SynthReport",
    "Window",
    "generate",
    "write_dataset",
]
