"""Run a model as ground truth and write what the hospital's EHR and CMMS would hold.

Why the same engine: the synthetic data exists to check that calibration recovers the model that
produced it. A second simulator would make that check meaningless, so the generator only asks
:func:`caretwin.sim.runner.trace_run` for one replication's event trace and translates it.

Output is streamed patient by patient (one patient's dicts alive at a time), serialised with
orjson and hashed while written. Every id is a uuid5 of the model, the seed and the entity, and
nothing time- or machine-dependent is written, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from caretwin.errors import ConfigError
from caretwin.model.definition import TwinDefinition
from caretwin.sim.runner import trace_run
from caretwin.sim.trace import Trace
from caretwin.synth import fhir
from caretwin.synth.demographics import Demographics
from caretwin.synth.episodes import EpisodeBuilder
from caretwin.synth.layout import Ids, Layout
from caretwin.synth.window import DEFAULT_START_DATE, Window
from caretwin.synth.workorders import work_orders, workorders_csv
from caretwin.version import __version__

RESOURCE_TYPES = ("Patient", "Location", "Encounter", "ServiceRequest", "Procedure", "Device")
WORKORDERS_FILE = "workorders.csv"
MANIFEST_FILE = "synth-manifest.json"


@dataclass
class SynthReport:
    """What a generation wrote. ``seconds`` is wall time and is *not* in the manifest."""

    out_dir: str
    model_name: str
    model_hash: str
    seed: int
    days: int
    start_date: str
    warmup_days: float
    window_start: str
    window_end: str
    counts: dict[str, int]
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    trace_events: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Ndjson:
    """An NDJSON file written line by line, counted and hashed on the way."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("wb", buffering=1 << 20)
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, obj: dict[str, Any]) -> None:
        line = orjson.dumps(obj) + b"\n"
        self._fh.write(line)
        self.sha.update(line)
        self.count += 1

    def close(self) -> None:
        self._fh.close()


class _Writers:
    def __init__(self, out_dir: Path) -> None:
        self.files = {t: _Ndjson(out_dir / f"{t}.ndjson") for t in RESOURCE_TYPES}

    def __enter__(self) -> dict[str, _Ndjson]:
        return self.files

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for f in self.files.values():
            f.close()


def generate(
    defn: TwinDefinition,
    days: int,
    seed: int,
    out_dir: Path,
    *,
    start_date: date = DEFAULT_START_DATE,
    warmup_days: float | None = None,
) -> SynthReport:
    """Simulate ``defn`` for warm-up + ``days`` with ``seed`` and write the data set to ``out_dir``.

    ``warmup_days`` defaults to the model's ``run.warmup_days``. Raises :class:`ConfigError` for a
    start date that is not a Monday, ``days < 1`` or a fractional warm-up.
    """
    started = time.perf_counter()
    warm = defn.run.warmup_days if warmup_days is None else warmup_days
    window = Window.build(days, warm * 24.0, start_date)
    trace = trace_run(defn, seed, window.end_h)
    report = write_dataset(defn, trace, seed, out_dir, window)
    report.seconds = time.perf_counter() - started
    return report


def write_dataset(
    defn: TwinDefinition, trace: Trace, seed: int, out_dir: Path, window: Window
) -> SynthReport:
    """Translate an event trace into the FHIR NDJSON files, workorders.csv and the manifest."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output folder {out_dir}: {exc}") from exc
    ids = Ids.for_run(defn.name, seed)
    layout = Layout(defn, trace, ids)
    stamps = window.stamps(trace.time)
    builder = EpisodeBuilder(layout, trace.kind.tolist(), trace.ref.tolist(), trace.unit.tolist())
    renderer = fhir.EpisodeRenderer(ids, stamps)
    n_entities = int(trace.entity.max()) + 1 if len(trace) else 0
    people = Demographics(n_entities, seed, window.start_date)
    rows, offsets = window.patient_rows(trace)
    row_list, entity_of = rows.tolist(), trace.entity[rows].tolist()
    try:
        with _Writers(out_dir) as out:
            for place in layout.places:
                out["Location"].write(fhir.location(place))
            for asset in layout.assets:
                out["Device"].write(fhir.device(asset))
            for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
                entity = entity_of[a]
                episode = builder.build(entity, row_list[a:b])
                pid = ids.record_id("Patient", entity)
                out["Patient"].write(people.patient(entity, pid))
                subject = {"reference": f"Patient/{pid}"}
                for res in renderer.encounters(episode, subject):
                    out["Encounter"].write(res)
                for res in renderer.service_requests(episode, subject):
                    out["ServiceRequest"].write(res)
                for res in renderer.procedures(episode, subject):
                    out["Procedure"].write(res)
            counts = {t: out[t].count for t in RESOURCE_TYPES}
            hashes = {f"{t}.ndjson": out[t].sha.hexdigest() for t in RESOURCE_TYPES}
        orders = work_orders(trace, window)
        csv_bytes = workorders_csv(orders, layout, window)
        (out_dir / WORKORDERS_FILE).write_bytes(csv_bytes)
    except OSError as exc:
        raise ConfigError(f"cannot write to {out_dir}: {exc}") from exc
    counts["WorkOrder"] = len(orders)
    hashes[WORKORDERS_FILE] = hashlib.sha256(csv_bytes).hexdigest()
    report = SynthReport(
        out_dir=str(out_dir),
        model_name=defn.name,
        model_hash=defn.content_hash(),
        seed=seed,
        days=round((window.end_h - window.start_h) / 24.0),
        start_date=window.start_date.isoformat(),
        warmup_days=window.start_h / 24.0,
        window_start=window.iso(window.start_h),
        window_end=window.iso(window.end_h),
        counts=counts,
        files=hashes,
        trace_events=len(trace),
    )
    _write_manifest(out_dir / MANIFEST_FILE, report, defn)
    return report


def _write_manifest(path: Path, report: SynthReport, defn: TwinDefinition) -> None:
    """The manifest: inputs, window, counts and file hashes; nothing run-dependent."""
    manifest = {
        "generator": f"caretwin {__version__}",
        "model": {"name": defn.name, "version": defn.version, "hash": report.model_hash},
        "seed": report.seed,
        "days": report.days,
        "start_date": report.start_date,
        "warmup_days": report.warmup_days,
        "window": {"start": report.window_start, "end": report.window_end},
        "counts": report.counts,
        "files": report.files,
    }
    try:
        path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc
