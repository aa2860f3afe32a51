"""Fixed costs of a command: what a tiny run pays before and after its real work.

``python benchmarks/fixed_costs.py [--repeat 5] [--no-compile]`` prints, next to ``python -c pass``
measured in the same run, the CPU seconds (user + sys of the child, from ``os.wait4``, so
waiting on a busy shared machine does not count) and wall seconds (median of ``--repeat``) of:

* ``caretwin --help``, ``caretwin validate reference-hospital``, ``caretwin runs list`` on a fresh
  workspace (the workspace open), and ``caretwin simulate`` of the reference hospital cut to one
  simulated day (no warm-up, no cool-down: the smallest run the CLI allows) with and without its
  report, one replication on one worker;
* the pieces of that simulate, timed inside one fresh interpreter on the real code path: import
  of the service layer, import of the fast engine (numba), the numba cache load (the first
  replication minus the second), workspace open, run start, manifest write, report write, and
  the plotly.js bundle the report embeds;
* the first-run compilation: the same simulate with ``NUMBA_CACHE_DIR`` pointed at an empty
  temporary folder, so numba compiles as on the first run after install (``--no-compile`` skips
  it: it costs tens of CPU seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

CLI = "import sys; from caretwin.cli.app import main; sys.exit(main())"

# Runs in a fresh interpreter: times each piece of a one-day simulate on the real code path by
# wrapping the functions simulate_model calls, then prints the timings as JSON.
PROBE = r"""
import json, sys, time
from pathlib import Path
t = {}
def timed(owner, name, key):
    fn = getattr(owner, name)
    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            t[key] = t.get(key, 0.0) + time.perf_counter() - t0
    setattr(owner, name, wrapper)
t0 = time.perf_counter()
from caretwin.services.context import ServiceContext
from caretwin.services import simulation
t["import service layer"] = time.perf_counter() - t0
t0 = time.perf_counter()
import caretwin.sim.fast.run
t["import fast engine (numba)"] = time.perf_counter() - t0
from caretwin.runs.recorder import RunRecorder
from caretwin.workspace.workspace import Workspace
from caretwin.sim.fast import run as fast_run
timed(Workspace, "resolve", "workspace open")
timed(RunRecorder, "finish", "manifest write (finish)")
import caretwin.reports as reports  # simulate_model imports write_report from here when used
timed(reports, "write_report", "report write")
timed(fast_run, "run_core", "jitted calls")
timed(fast_run, "poisson_times", "jitted calls")
ws, model = Path(sys.argv[1]), sys.argv[2]
ctx = ServiceContext.for_cli(ws)
t0 = time.perf_counter()
simulation.simulate_model(ctx, model, replications=1, workers=1, report=True)
t["simulate_model, first (cold process)"] = time.perf_counter() - t0
first_core = t.pop("jitted calls")
first_report = t["report write"]
t0 = time.perf_counter()
simulation.simulate_model(ctx, model, replications=1, workers=1, report=True)
t["simulate_model, second (same process)"] = time.perf_counter() - t0
t["numba cache load (first jitted calls - second)"] = first_core - t.pop("jitted calls")
t["report write, second (same process)"] = t["report write"] - first_report
t["report write"] = first_report
from caretwin.reports.report import plotly_js
plotly_js.cache_clear()
t0 = time.perf_counter()
n = len(plotly_js())
t["plotly.js read+escape (%d kB)" % (n // 1024)] = time.perf_counter() - t0
print(json.dumps(t))
"""


def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child ``python *args``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args} failed: {err[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall


def tiny_model(folder: Path) -> Path:
    """The reference hospital cut to one simulated day, no warm-up and no cool-down."""
    from caretwin.services.models import resolve_model_path

    data = yaml.safe_load(resolve_model_path("reference-hospital").read_text(encoding="utf-8"))
    data["run"].update(warmup_days=0, run_days=1, cooldown_days=0, replications=1)
    path = folder / "rh1-one-day.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def bench(repeat: int = 5, compile_cold: bool = True) -> dict[str, tuple[float, float]]:
    """Print and return (median CPU s, median wall s) of every command."""
    out: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="caretwin-fixed-") as tmp:
        root = Path(tmp)
        ws = root / "ws"
        env = {**os.environ, "COLUMNS": "80", "CARETWIN_WORKSPACE": str(ws)}
        env.pop("NUMBA_CACHE_DIR", None)
        run(["-c", CLI, "init", str(ws)], env, root)
        model = str(tiny_model(root))
        sim = ["-c", CLI, "simulate", model, "--reps", "1", "--workers", "1"]
        run(sim, env, root)  # the numba cache is warm from here on (or compiled now)
        cases: list[tuple[str, list[str]]] = [
            ("python -c pass (baseline)", ["-c", "pass"]),
            ("caretwin --help", ["-c", CLI, "--help"]),
            ("caretwin validate reference-hospital", ["-c", CLI, "validate", "reference-hospital"]),
            ("caretwin runs list (workspace open)", ["-c", CLI, "runs", "list"]),
            ("caretwin simulate 1 day --no-report", [*sim, "--no-report"]),
            ("caretwin simulate 1 day (with report)", sim),
        ]
        print(f"fixed costs: median of {repeat} runs, CPU = user+sys of the child")
        print(f"  {'command':<42} {'CPU':>7} {'wall':>7} {'CPU - pass':>10}")
        for label, args in cases:
            run(args, env, root)  # warm the file cache and .pyc files
            times = [run(args, env, root) for _ in range(repeat)]
            cpu = statistics.median(c for c, _ in times)
            wall = statistics.median(w for _, w in times)
            out[label] = (cpu, wall)
            base = out["python -c pass (baseline)"][0]
            print(f"  {label:<42} {cpu:>6.3f}s {wall:>6.3f}s {cpu - base:>9.3f}s")
        probe = subprocess.run(
            [sys.executable, "-c", PROBE, str(ws), model],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        print("pieces of one simulate, in one fresh interpreter (wall seconds)")
        for key, value in json.loads(probe.stdout).items():
            print(f"  {key:<50} {value:>7.3f}s")
        if compile_cold:
            cache = root / "numba-cache"
            cache.mkdir()
            cpu, wall = run([*sim, "--no-report"], {**env, "NUMBA_CACHE_DIR": str(cache)}, root)
            out["first run (cold numba cache)"] = (cpu, wall)
            print(
                f"first run after install (empty NUMBA_CACHE_DIR): {cpu:.1f}s CPU, {wall:.1f}s wall"
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true", help="skip the cold-cache compile run")
    args = ap.parse_args()
    bench(args.repeat, not args.no_compile)


if __name__ == "__main__":
    main()
