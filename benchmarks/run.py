"""CareTwin benchmarks: `make bench` (or `python benchmarks/run.py [--quick] [--only ...]`).

Prints figures and ratios against a named baseline measured in the same process:

* simulation (``--only sim``): RH1 baseline, 20 replications of 28 + 364 + 14 days, CareTwin's
  engine against the SimPy comparator (benchmarks/simpy_rh1.py), each on one core; wall
  seconds, ratio, events per second, peak memory, both KPI tables with agreement flags
  (definitions in benchmarks/sim_bench.py);
* scaling (``--only scaling``): 1, 4 and 16 simulated years; 10, 100 and 1000 replications
  (the last on every core), per-replication cost and peak memory;
* ingestion (``--only ingest``, benchmarks/ingest_bench.py): >= 1 M resources (``caretwin synth``
  RH1 plus the Synthea sample) into a fresh lake, against plain `orjson` parsing and validated
  `fhir.resources` parsing of the same files; resources/s, MB/s, phases, peak RSS;
* start-up (``--only startup``, benchmarks/startup_bench.py): CPU seconds of ``caretwin --help``
  and other short commands against ``python -c pass`` and ``python -c "import typer"``;
* fixed costs (``--only fixed``, benchmarks/fixed_costs.py): CPU and wall seconds of a one-day
  simulate (with and without report), validate, a workspace open, their pieces in-process, and
  the first-run numba compilation (skipped with ``--quick``), against ``python -c pass``;
* jobs (``--only jobs``, benchmarks/job_bench.py): jobs/s of 100 queued short simulations on a
  PostgreSQL queue, the embedded worker of ``caretwin serve`` against 1 and 2 ``caretwin
  worker`` processes (skipped when no PostgreSQL answers).

`--quick` is a smoke run of every part with small sizes (about a minute). Not part of the unit
tests: speed is measured here, never asserted there. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks.*` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fixed_costs import bench as bench_fixed
from benchmarks.ingest_bench import bench
from benchmarks.job_bench import bench as bench_jobs
from benchmarks.sim_bench import head_to_head, scaling
from benchmarks.startup_bench import bench as bench_startup


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def bench_ingest(days: int | None, quick: bool) -> None:
    """The ingestion benchmark of benchmarks/ingest_bench.py (>= 1 M resources by default)."""
    bench(days or (30 if quick else None), fhir_sample=500 if quick else 5000)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["sim", "scaling", "ingest", "startup", "fixed", "jobs"])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--reps", type=int, default=None, help="head-to-head replications")
    ap.add_argument("--days", type=int, default=None, help="days of synthetic data to ingest")
    args = ap.parse_args()
    print(f"CareTwin benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    quick = args.quick
    if args.only in (None, "startup"):
        bench_startup(3 if quick else 7)
    if args.only in (None, "fixed"):
        bench_fixed(3 if quick else 5, compile_cold=not quick)
    if args.only in (None, "sim"):
        head_to_head(args.reps or (2 if quick else 20), run_days=91 if quick else None)
    if args.only in (None, "scaling"):
        if quick:
            scaling([0.25, 0.5, 1], [2, 4, 8], big_reps=16, run_days=28)
        else:
            scaling([1, 4, 16], [10, 100], big_reps=1000, run_days=364)
    if args.only in (None, "ingest"):
        bench_ingest(args.days, quick)
    if args.only in (None, "jobs"):
        bench_jobs(10 if quick else 100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
