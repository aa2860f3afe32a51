"""CareTwin's own job kinds, registered through the ``register_job_kinds`` hook like any
plugin's: simulate, experiment, calibrate, ingest, pull, synth, reproduce, validation.

Parameters and runners live in :mod:`caretwin.services.job_params` and
:mod:`caretwin.services.job_runners`, imported when a job is submitted or run, not when the
registry is built: this module stays as cheap to load as a third party's should be.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from caretwin.access import Permission
from caretwin.plugins import JobKindSpec, JobOutput, JobProgress, hookimpl

_PARAMS = "caretwin.services.job_params"
_RUNNERS = "caretwin.services.job_runners"


@dataclass(frozen=True)
class _Params:
    name: str

    def __call__(self) -> Any:
        return getattr(importlib.import_module(_PARAMS), self.name)


@dataclass(frozen=True)
class _Runner:
    name: str

    def __call__(self, ctx: Any, params: Any, progress: JobProgress) -> JobOutput:
        run: Any = getattr(importlib.import_module(_RUNNERS), self.name)
        out: JobOutput = run(ctx, params, progress)
        return out


#: name, description, permission, params model, runner, cancellable while running, idempotent.
#: Only an ingest is retried after its worker died: the lake's snapshot is all-or-nothing and
#: content-addressed, so a second attempt adds the same data or nothing. Re-running the others
#: would record a second run, or pull again, that nobody asked for: they fail, saying why.
KINDS = (
    ("simulate", "simulate scenarios of a model as one recorded run", Permission.SIMULATE,
     "SimulateParams", "run_simulate", True, False),
    ("experiment", "run an experiment (variants, advisors, searches) as one run",
     Permission.SIMULATE, "ExperimentParams", "run_experiment_job", True, False),
    ("calibrate", "fit a model from the lake into <workspace>/models", Permission.CALIBRATE,
     "CalibrateParams", "run_calibrate", False, False),
    ("ingest", "ingest uploaded files into the lake as one snapshot", Permission.INGEST,
     "IngestParams", "run_ingest", True, True),
    ("pull", "pull a configured source and ingest what came", Permission.INGEST,
     "PullParams", "run_pull", False, False),
    ("synth", "write synthetic EHR/CMMS data into <workspace>/synth/<job>", Permission.SYNTH,
     "SynthParams", "run_synth", False, False),
    ("reproduce", "re-run a recorded run and compare its KPIs exactly", Permission.RUNS_READ,
     "ReproduceParams", "run_reproduce", False, False),
    ("validation", "run a validation plan on the lake: backtests, scorecard", Permission.VALIDATE,
     "ValidationParams", "run_validation_job", True, False),
)  # fmt: skip


@hookimpl
def register_job_kinds() -> list[JobKindSpec]:
    return [
        JobKindSpec(
            name,
            description,
            permission,
            params=_Params(params),
            run=_Runner(runner),
            cancellable=cancellable,
            idempotent=idempotent,
        )
        for name, description, permission, params, runner, cancellable, idempotent in KINDS
    ]
