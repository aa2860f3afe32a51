"""The synthetic-data service: generate a hospital's EHR and CMMS extract from a model.

Why a service and not a direct call from the CLI: generating data is a governed operation like
any other (it needs ``data.synth`` and leaves an audit event naming the model hash, seed, window
and counts, never any of the synthetic PHI), and the future HTTP API must get the same checks.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from caretwin.access import Permission
from caretwin.model import apply_scenario, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.services.context import ServiceContext
from caretwin.services.models import resolve_model_path
from caretwin.services.results import ServiceResult
from caretwin.synth import DEFAULT_START_DATE, WORKORDERS_FILE, generate

__all__ = ["SynthRun", "synthesize"]


class SynthRun(ServiceResult):
    """What a generation wrote: the window (UTC, ISO), records per resource type (``WorkOrder``:
    the CMMS extract), each file's sha256, and ``records`` per file written."""

    out_dir: Path
    model_name: str
    model_hash: str
    seed: int
    days: int
    start_date: str
    warmup_days: float
    window_start: str
    window_end: str
    counts: dict[str, int]
    files: dict[str, str]
    records: dict[str, int]
    trace_events: int
    seconds: float


def synthesize(
    ctx: ServiceContext,
    model: str | Path | TwinDefinition,
    *,
    days: int,
    seed: int,
    out_dir: Path,
    start_date: date = DEFAULT_START_DATE,
    warmup_days: float | None = None,
    scenario: str | None = None,
) -> SynthRun:
    """Simulate ``model`` (a file, a shipped example's name or a definition) and write the data.

    ``warmup_days`` defaults to the model's ``run.warmup_days``; ``scenario`` applies a named
    scenario's overrides first (the data then shows that variant of the hospital).
    """
    target = str(out_dir)
    with ctx.operation("data.synth", Permission.SYNTH, target=target) as op:
        if isinstance(model, TwinDefinition):
            defn = model
        else:
            defn = load_definition(resolve_model_path(model))
        defn = apply_scenario(defn, scenario)
        op.details.update(
            model=defn.name,
            model_hash=defn.content_hash(),
            scenario=scenario or "baseline",
            seed=seed,
            days=days,
            start_date=start_date.isoformat(),
        )
        report = generate(defn, days, seed, out_dir, start_date=start_date, warmup_days=warmup_days)
        op.details.update(
            warmup_days=report.warmup_days,
            window={"start": report.window_start, "end": report.window_end},
            counts=report.counts,
            files=report.files,
        )
    records = {
        WORKORDERS_FILE if kind == "WorkOrder" else f"{kind}.ndjson": n
        for kind, n in report.counts.items()
    }
    return SynthRun.model_validate({**report.to_dict(), "records": records})
