"""CareTwin benchmarks: `make bench` (or `python benchmarks/run.py [--quick] [--only ...]`).

Prints figures and ratios against a named baseline measured in the same process:

* simulation (``--only sim``): RH1 baseline, 20 replications of 28 + 364 + 14 days, CareTwin's
  engine against the SimPy comparator (benchmarks/simpy_rh1.py), each on one core; wall
  seconds, ratio, events per second, peak memory, both KPI tables with agreement flags
  (definitions in benchmarks/sim_bench.py);
* scaling (``--only scaling``): 1, 4 and 16 simulated years; 10, 100 and 1000 replications
  (the last on every core), per-replication cost and peak memory;
* ingestion: `caretwin synth` output for 395 days of RH1; plain `orjson` parsing of the same
  NDJSON lines (baseline) against the full ingest into a fresh lake (validation, normalisation,
  content hashing, Parquet); resources per second, MB/s.

`--quick` is a smoke run of every part with small sizes (about a minute). Not part of the unit
tests: speed is measured here, never asserted there. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

if __package__ in (None, ""):  # run as a script: make `benchmarks.*` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sim_bench import head_to_head, scaling

from caretwin.ingest import ingest_paths
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.synth import generate


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def bench_ingest(days: int) -> None:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    print(f"== ingestion: {days} days of RH1 from caretwin synth")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        rep = generate(d, days, 7, data)
        print(f"  synth: {sum(rep.counts.values()):,} records in {time.perf_counter() - t0:.1f} s")
        files = sorted(data.glob("*.ndjson"))
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        t0 = time.perf_counter()
        n = 0
        for f in files:
            with f.open("rb") as fh:
                for line in fh:
                    if line.strip():
                        orjson.loads(line)
                        n += 1
        parse = time.perf_counter() - t0
        print(
            f"  baseline orjson parse: {n:,} resources, {size_mb:.0f} MB in {parse:.2f} s "
            f"= {n / parse:,.0f} resources/s, {size_mb / parse:.0f} MB/s"
        )
        t0 = time.perf_counter()
        report = ingest_paths(Path(tmp) / "lake", [data])
        wall = time.perf_counter() - t0
        total = sum(c.added + c.unchanged + c.quarantined for c in report.counts.values())
        print(
            f"  caretwin ingest: {total:,} records in {wall:.2f} s = {total / wall:,.0f} "
            f"resources/s, {size_mb / wall:.0f} MB/s; "
            f"{wall / parse:.1f}x the time of the parse baseline"
        )
        t0 = time.perf_counter()
        ingest_paths(Path(tmp) / "lake", [data])
        again = time.perf_counter() - t0
        print(f"  re-ingest (nothing new): {again:.2f} s = {total / again:,.0f} resources/s")
    print(f"  peak memory: {peak_mb():.0f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["sim", "scaling", "ingest"])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--reps", type=int, default=None, help="head-to-head replications")
    ap.add_argument("--days", type=int, default=None, help="days of synthetic data to ingest")
    args = ap.parse_args()
    print(f"CareTwin benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    quick = args.quick
    if args.only in (None, "sim"):
        head_to_head(args.reps or (2 if quick else 20), run_days=91 if quick else None)
    if args.only in (None, "scaling"):
        if quick:
            scaling([0.25, 0.5, 1], [2, 4, 8], big_reps=16, run_days=28)
        else:
            scaling([1, 4, 16], [10, 100], big_reps=1000, run_days=364)
    if args.only in (None, "ingest"):
        bench_ingest(args.days or (30 if quick else 395))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
