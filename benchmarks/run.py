"""CareTwin benchmarks: `make bench` (or `python benchmarks/run.py [--only sim|ingest]`).

Prints figures and ratios against a named baseline measured in the same process:

* simulation: RH1 baseline, 20 replications of 28 + 364 + 14 days, on one worker (baseline) and
  on every core; wall seconds, events per second, speed-up;
* ingestion: `caretwin synth` output for 395 days of RH1; plain `orjson` parsing of the same
  NDJSON lines (baseline) against the full ingest into a fresh lake (validation, normalisation,
  content hashing, Parquet); resources per second, MB/s.

Not part of the unit tests: speed is measured here, never asserted there.
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

from caretwin.ingest import ingest_paths
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.sim.runner import default_workers, simulate
from caretwin.synth import generate


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def bench_sim(reps: int) -> None:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    print(f"== simulation: RH1 baseline, {reps} replications, 28 + 364 + 14 days")
    rows = []
    for workers in sorted({1, default_workers()}):
        t0 = time.perf_counter()
        res = simulate(d, replications=reps, seed=d.run.seed, workers=workers)
        wall = time.perf_counter() - t0
        rows.append((workers, wall, res.events))
        print(
            f"  workers={workers}: {wall:7.2f} s  {res.events:,} events  "
            f"{res.events / wall:,.0f} events/s  ({wall / reps:.3f} s per replication)"
        )
    base = rows[0][1]
    for workers, wall, _ in rows[1:]:
        print(f"  speed-up of {workers} workers over the 1-worker baseline: {base / wall:.2f}x")
    print(f"  peak memory: {peak_mb():.0f} MB")


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
    ap.add_argument("--only", choices=["sim", "ingest"])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--days", type=int, default=395)
    args = ap.parse_args()
    print(f"CareTwin benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if args.only in (None, "sim"):
        bench_sim(args.reps)
    if args.only in (None, "ingest"):
        bench_ingest(args.days)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
