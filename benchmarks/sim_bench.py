"""The simulation benchmark: CareTwin's engine against the SimPy comparator, and how cost grows.

Definitions (also printed by ``run.py``):

* **wall seconds**: ``time.perf_counter`` around the whole phase, KPI summaries included.
* **events**: CareTwin counts events popped from its heap (arrivals, step ends, failures,
  repairs); SimPy counts ``env.step()`` calls (timeouts, resource requests and releases, process
  starts and ends). SimPy needs about three events where CareTwin needs one for the same patient
  flow, so events/s differ in meaning between the two; the wall-time ratio on the same workload
  is the comparison.
* **peak memory**: the process's resident-set high-water mark (``VmHWM``), reset before each
  phase through ``/proc/self/clear_refs`` (Linux), so each phase reports its own peak; where
  that is unavailable, the process-lifetime ``ru_maxrss``. Worker processes report the largest
  child's ``ru_maxrss``. One untimed replication of each engine also runs under ``tracemalloc``
  for the Python heap it needs (tracemalloc slows code, so it is never on during timing).
"""

from __future__ import annotations

import math
import resource
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.simpy_rh1 import KPI_NAMES, RH1Params, SimpyResult, job

from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.sim.compiled import compile_definition
from caretwin.sim.executors import default_workers, iter_replications
from caretwin.sim.fast import warm_up
from caretwin.sim.result import ReplicationResult, summarise_values
from caretwin.sim.runner import run_replication

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak() -> bool:
    """Reset this process's RSS high-water mark; False where the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    """This process's RSS high-water mark since the last :func:`reset_peak`, in MB."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def engine_job(args: tuple[Any, ...]) -> ReplicationResult:
    """One CareTwin replication (picklable job for the executors): the fast core unless a
    fourth element says ``"reference"``."""
    model, seed, rep, *rest = args
    return run_replication(model, seed, rep, rest[0] if rest else "fast")


def with_run_days(d: TwinDefinition, run_days: float) -> TwinDefinition:
    return d.model_copy(update={"run": d.run.model_copy(update={"run_days": run_days})})


@dataclass
class Phase:
    name: str
    reps: int
    wall: float
    events: int
    peak_mb: float
    kpis: dict[str, list[float]]

    @property
    def per_rep(self) -> float:
        return self.wall / self.reps

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall


def _phase(name: str, reps: int, results: Iterable[ReplicationResult | SimpyResult]) -> Phase:
    reset_peak()
    t0 = time.perf_counter()
    kpis: dict[str, list[float]] = {k: [] for k in KPI_NAMES}
    events = 0
    for r in results:  # results stream in: only KPI values are kept
        events += r.events
        for k in KPI_NAMES:
            kpis[k].append(r.kpis.get(k, math.nan))
    return Phase(name, reps, time.perf_counter() - t0, events, peak_mb(), kpis)


def run_caretwin(d: TwinDefinition, reps: int, workers: int = 1) -> Phase:
    model = compile_definition(d)
    jobs = [(model, d.run.seed, i) for i in range(reps)]
    return _phase("CareTwin", reps, iter_replications(engine_job, jobs, workers=workers))


def heap_peak_mb(fn: Callable[[], object]) -> float:
    """Peak Python heap of ``fn()`` under tracemalloc, in MB (untimed)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def interleaved(d: TwinDefinition, reps: int) -> tuple[Phase, Phase, Phase]:
    """CareTwin's fast core, SimPy and CareTwin's reference engine on the same replications,
    alternating replication by replication.

    On a shared machine the load drifts; alternating exposes both engines to the same drift,
    so their ratio is steadier than two back-to-back phases would give.
    """
    model = compile_definition(d)
    params = RH1Params(
        warmup_days=d.run.warmup_days, run_days=d.run.run_days, cooldown_days=d.run.cooldown_days
    )
    runners: list[tuple[str, Callable[[int], ReplicationResult | SimpyResult]]] = [
        ("CareTwin", lambda i: engine_job((model, d.run.seed, i, "fast"))),
        ("SimPy", lambda i: job((d.run.seed, i, params))),
        ("CT-ref", lambda i: engine_job((model, d.run.seed, i, "reference"))),
    ]
    phases = [Phase(name, reps, 0.0, 0, 0.0, {k: [] for k in KPI_NAMES}) for name, _ in runners]
    for i in range(reps):
        for (_, run), ph in zip(runners, phases, strict=True):
            reset_peak()
            t0 = time.perf_counter()
            r = run(i)
            ph.wall += time.perf_counter() - t0
            ph.peak_mb = max(ph.peak_mb, peak_mb())
            ph.events += r.events
            for k in KPI_NAMES:
                ph.kpis[k].append(r.kpis.get(k, math.nan))
    return phases[0], phases[1], phases[2]


def head_to_head(reps: int, run_days: float | None = None) -> None:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    if run_days is not None:
        d = with_run_days(d, run_days)
    days = f"{d.run.warmup_days:g} + {d.run.run_days:g} + {d.run.cooldown_days:g} days"
    print(f"== simulation: RH1 baseline, {reps} replications, {days}, one core each")
    print("   (replications alternate between the engines; wall = sum of each engine's runs)")
    print("   CareTwin = the fast core (numba); CT-ref = CareTwin's pure-Python reference engine,")
    print("   which gives bit-identical KPIs; SimPy = an idiomatic SimPy model of RH1")
    model = compile_definition(d)
    t0 = time.perf_counter()
    warm_up(model)
    print(f"  fast core compile or cache load (once per process): {time.perf_counter() - t0:.2f} s")
    care, simpy_phase, ref = interleaved(d, reps)
    for ph in (care, simpy_phase, ref):
        print(
            f"  {ph.name:8s} {ph.wall:8.2f} s  {ph.per_rep:6.3f} s/replication  "
            f"{ph.events:>12,} events  {ph.events_per_s:>11,.0f} events/s  "
            f"peak RSS {ph.peak_mb:5.0f} MB"
        )
    print(f"  ratio: CareTwin is {simpy_phase.wall / care.wall:.2f}x faster than SimPy (wall time)")
    print(
        f"  (reference engine: {simpy_phase.wall / ref.wall:.2f}x SimPy; fast core "
        f"{ref.wall / care.wall:.1f}x the reference engine)"
    )
    identical = care.kpis == ref.kpis
    print(f"  fast core and reference engine KPIs bit-identical: {'yes' if identical else 'NO'}")
    heap_c = heap_peak_mb(lambda: engine_job((model, d.run.seed, 0, "fast")))
    heap_s = heap_peak_mb(lambda: job((d.run.seed, 0, RH1Params(run_days=d.run.run_days))))
    print(f"  Python heap peak of one replication: CareTwin {heap_c:.1f} MB, SimPy {heap_s:.1f} MB")
    kpi_table(care, simpy_phase)


def kpi_table(a: Phase, b: Phase) -> None:
    print(
        f"  {'KPI':28s} {a.name + ' mean ± 95% CI':>26s} {b.name + ' mean ± 95% CI':>26s} "
        f"{'diff':>9s}  agree"
    )
    agree = 0
    for k in KPI_NAMES:
        ma, ha, _, _ = summarise_values(a.kpis[k])
        mb, hb, _, _ = summarise_values(b.kpis[k])
        tol = (0.0 if math.isnan(ha) else ha) + (0.0 if math.isnan(hb) else hb)
        ok = abs(ma - mb) <= tol
        agree += ok
        print(
            f"  {k:28s} {ma:14.4f} ± {ha:9.4f} {mb:14.4f} ± {hb:9.4f} {ma - mb:9.4f}  "
            f"{'yes' if ok else 'NO'}"
        )
    print(
        f"  {agree}/{len(KPI_NAMES)} KPIs agree (difference within the sum of the two 95% CI "
        "half-widths)"
    )


def scaling(years: list[float], reps_list: list[int], big_reps: int, run_days: float) -> None:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    print("== scaling (CareTwin fast core; one core unless stated)")
    warm_up(compile_definition(d))
    print("  run length, 1 replication:")
    for y in years:
        ph = run_caretwin(with_run_days(d, 364 * y), 1)
        print(
            f"    {y:5g} simulated years ({364 * y:g} run days): {ph.wall:7.2f} s  "
            f"{ph.wall / y:6.3f} s/simulated year  {ph.events:>11,} events  "
            f"{ph.events_per_s:>9,.0f} events/s  peak RSS {ph.peak_mb:5.0f} MB"
        )
    print(f"  replications ({run_days:g} run days each):")
    short = with_run_days(d, run_days)
    for reps in reps_list:
        ph = run_caretwin(short, reps)
        print(
            f"    {reps:5d} replications: {ph.wall:8.2f} s  {ph.per_rep:6.3f} s/replication  "
            f"{ph.events_per_s:>9,.0f} events/s  peak RSS {ph.peak_mb:5.0f} MB"
        )
    cores = default_workers()
    ph = run_caretwin(short, big_reps, workers=cores)
    print(
        f"    {big_reps:5d} replications on all {cores} cores (local processes, streamed): "
        f"{ph.wall:8.2f} s  {ph.per_rep:6.3f} s/replication  {ph.events:,} events"
    )
    print(
        f"      peak RSS: parent {ph.peak_mb:.0f} MB (results folded as they stream), "
        f"largest worker {children_peak_mb():.0f} MB"
    )
