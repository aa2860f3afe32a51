"""Ingestion benchmark: >= 1 M FHIR resources into a fresh lake, with parse baselines.

    python benchmarks/ingest_bench.py                # ~2040 days of RH1 + the Synthea sample
    python benchmarks/ingest_bench.py --days 100     # a quick run

Generates RH1 data with ``caretwin synth`` (seed 7; the days are chosen so that, with the Synthea
sample from ../shared, the input holds at least 1,000,000 resources), then measures in one
process, on the same files:

* plain ``orjson.loads`` of every NDJSON line (the floor for any Python parser);
* validated parsing with ``fhir.resources`` R4B pydantic models, on a sample (``--fhir-sample``
  lines spread over the files; the whole set would take tens of minutes), scaled per resource;
* ``caretwin ingest`` end to end into a fresh lake (parse, checks and ViewDefinitions in worker
  processes, dedupe, versions, partitioned Parquet, atomic commit), then a re-ingest of the same
  files (which adds nothing), then the Synthea sample alone into a lake of its own;

and prints resources/s, MB/s, the ingest's per-phase seconds, and peak memory: the largest RSS of
this process plus its children, sampled every 50 ms by a thread (``resource.getrusage`` max RSS
of this process is printed too; not a child's, since a spawned worker is charged its parent's
pages at fork). The data are generated in a child process, so this process's memory is the
ingest's. Timings on the shared 2-core
machine are noisy; compare the ratios printed against the baselines of the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import psutil

if __package__ in (None, ""):  # run as a script: make `benchmarks.*` and `tests.*` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caretwin.ingest import ingest_paths

SYNTHEA = Path(__file__).resolve().parents[2] / "shared" / "data" / "synthea-10-patients"
TARGET = 1_000_000
#: resources `caretwin synth` writes per day of RH1 (measured: 981,818 for 2000 days)
PER_DAY = 491


class PeakRss:
    """The largest RSS of this process and its children, sampled by a daemon thread."""

    def __init__(self, every: float = 0.05) -> None:
        self.peak = 0
        self._every = every
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self._proc.memory_info().rss
                for child in self._proc.children(recursive=True):
                    with contextlib.suppress(psutil.Error):  # a worker that just exited
                        rss += child.memory_info().rss
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self._stop.wait(self._every)

    def __enter__(self) -> PeakRss:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def ndjson_files(folders: list[Path]) -> list[Path]:
    return sorted(p for f in folders for p in f.rglob("*.ndjson"))


def orjson_baseline(files: list[Path]) -> tuple[int, float]:
    n = 0
    t0 = time.perf_counter()
    for f in files:
        with f.open("rb") as fh:
            for line in fh:
                if line.strip():
                    orjson.loads(line)
                    n += 1
    return n, time.perf_counter() - t0


def fhir_resources_baseline(files: list[Path], total: int, sample: int) -> tuple[int, float]:
    """Validated parsing with fhir.resources R4B of every k-th line (k = total / sample)."""
    from fhir.resources.R4B import get_fhir_model_class

    step = max(1, total // sample)
    n = 0
    seconds = 0.0
    k = 0
    for f in files:
        with f.open("rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                k += 1
                if k % step:
                    continue
                rtype = orjson.loads(line)["resourceType"]
                t0 = time.perf_counter()
                get_fhir_model_class(rtype).model_validate_json(line)
                seconds += time.perf_counter() - t0
                n += 1
    return n, seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=None, help="days of RH1 (default: reach 1 M)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fhir-sample", type=int, default=5000, help="lines fhir.resources parses")
    ap.add_argument("--no-synthea", action="store_true", help="leave out the Synthea sample")
    ap.add_argument("--workers", type=int, default=None, help="parsing processes (default auto)")
    ap.add_argument("--keep", type=Path, default=None, help="generate into / keep this folder")
    args = ap.parse_args()
    bench(args.days, args.seed, args.fhir_sample, not args.no_synthea, args.workers, args.keep)
    return 0


def bench(
    days: int | None = None,
    seed: int = 7,
    fhir_sample: int = 5000,
    with_synthea: bool = True,
    workers: int | None = None,
    keep: Path | None = None,
) -> None:
    """The whole benchmark (see the module doc); ``days=None`` reaches 1 M resources."""
    synthea = [SYNTHEA] if with_synthea and SYNTHEA.is_dir() else []
    days = days or -(-TARGET // PER_DAY) + 10
    print(f"== ingestion benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        data = keep or Path(tmp) / "data"
        if not (data / "synth-manifest.json").exists():
            t0 = time.perf_counter()
            # in a child process, so that this process's memory is the ingest's alone
            code = (
                "import sys; from pathlib import Path; from caretwin.synth import generate; "
                "from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition; "
                "generate(load_definition(example_path(REFERENCE_HOSPITAL)), int(sys.argv[1]), "
                "int(sys.argv[2]), Path(sys.argv[3]))"
            )
            subprocess.run(
                [sys.executable, "-c", code, str(days), str(seed), str(data)], check=True
            )
            took = time.perf_counter() - t0
            print(f"  synth: {days} days of RH1 (seed {seed}) in {took:.0f} s")
        inputs = [data, *synthea]
        files = ndjson_files(inputs)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        n, parse = orjson_baseline(files)
        print(
            f"  baseline orjson.loads: {n:,} resources, {size_mb:,.0f} MB in {parse:.2f} s = "
            f"{n / parse:,.0f} resources/s, {size_mb / parse:,.0f} MB/s"
        )
        m, secs = fhir_resources_baseline(files, n, fhir_sample)
        per = secs / m
        print(
            f"  baseline fhir.resources R4B validation: sample of {m:,} resources in {secs:.2f} s"
            f" = {1 / per:,.0f} resources/s (the whole set would take ~{n * per / 60:.0f} min)"
        )
        lake = Path(tmp) / "lake"
        start_rss = psutil.Process().memory_info().rss / 2**20
        with PeakRss() as peak:
            t0 = time.perf_counter()
            report = ingest_paths(lake, inputs, workers=workers)
            wall = time.perf_counter() - t0
        total = report.records
        print(
            f"  caretwin ingest: {total:,} records ({report.added:,} added, "
            f"{report.quarantined} quarantined) in {wall:.2f} s = {total / wall:,.0f} resources/s,"
            f" {size_mb / wall:,.0f} MB/s; {wall / parse:.1f}x orjson's time, "
            f"{n * per / wall:.0f}x faster than fhir.resources"
        )
        print(f"    phases (s): {report.phases}")
        print(f"    tables: {report.tables}")
        print(
            f"    peak RSS (process + workers, sampled every 50 ms): {peak.peak / 2**20:,.0f} MiB"
            f" (this process held {start_rss:,.0f} MiB before the ingest)"
        )
        with PeakRss() as again_peak:
            t0 = time.perf_counter()
            again = ingest_paths(lake, inputs, workers=workers)
            rerun = time.perf_counter() - t0
        print(
            f"  re-ingest (no change: {again.no_change}): {rerun:.2f} s = "
            f"{again.records / rerun:,.0f} resources/s, peak RSS {again_peak.peak / 2**20:,.0f} MiB"
        )
        lake_mb = sum(p.stat().st_size for p in lake.rglob("*.parquet")) / 1e6
        print(f"  lake on disk: {lake_mb:,.0f} MB of Parquet for {size_mb:,.0f} MB of NDJSON")
        if synthea:  # real-world shaped records (larger, more varied), in a lake of their own
            synthea_files = ndjson_files(synthea)
            s_mb = sum(f.stat().st_size for f in synthea_files) / 1e6
            t0 = time.perf_counter()
            alone = ingest_paths(Path(tmp) / "synthea-lake", synthea, workers=workers)
            took = time.perf_counter() - t0
            print(
                f"  Synthea sample alone: {alone.records:,} resources, {s_mb:,.0f} MB in "
                f"{took:.2f} s = {alone.records / took:,.0f} resources/s, {s_mb / took:,.1f} MB/s"
                f" ({alone.quarantined} quarantined)"
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  getrusage max RSS of this process over the whole run: {own:,.0f} MiB")


if __name__ == "__main__":
    raise SystemExit(main())
