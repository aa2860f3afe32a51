"""Start-up benchmark: CPU seconds (user + sys) of short ``caretwin`` invocations.

``python benchmarks/startup_bench.py [--repeat 7] [--src PATH]``: runs each command in a fresh
interpreter ``--repeat`` times and prints the median and minimum CPU time of the child (from
``os.wait4``, so waiting on a busy shared machine does not count), next to two baselines measured
in the same run: ``python -c pass`` (the interpreter) and ``python -c "import typer"`` (the CLI
library). ``--src`` points ``PYTHONPATH`` at another source tree, to compare before and after.
Each command is spelled as the ``caretwin`` console script runs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

CLI = "import sys; from caretwin.cli.app import main; sys.exit(main())"

CASES: list[tuple[str, list[str]]] = [
    ("python -c pass (baseline)", ["-c", "pass"]),
    ("python -c 'import typer' (baseline)", ["-c", "import typer"]),
    ("caretwin --version", ["-c", CLI, "--version"]),
    ("caretwin --help", ["-c", CLI, "--help"]),
    ("caretwin runs --help", ["-c", CLI, "runs", "--help"]),
    ("caretwin simulate --help", ["-c", CLI, "simulate", "--help"]),
    ("caretwin snapshots list --help", ["-c", CLI, "snapshots", "list", "--help"]),
    ("caretwin sources --help", ["-c", CLI, "sources", "--help"]),
]


def cpu_seconds(args: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one child process running ``python *args``."""
    proc = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def bench(repeat: int = 7, src: Path | None = None) -> dict[str, float]:
    """Print and return the median CPU seconds of every case."""
    env = {**os.environ, "COLUMNS": "80"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    where = env.get("PYTHONPATH") or "the installed package"
    print(f"start-up CPU time (user+sys), {repeat} runs each, source: {where}")
    print(f"  {'command':<38} {'median':>8} {'min':>8}")
    medians: dict[str, float] = {}
    for label, args in CASES:
        cpu_seconds(args, env)  # warm the file cache and .pyc files
        times = [cpu_seconds(args, env) for _ in range(repeat)]
        medians[label] = statistics.median(times)
        print(f"  {label:<38} {medians[label]:>7.3f}s {min(times):>7.3f}s")
    return medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--src", type=Path, default=None, help="source tree for PYTHONPATH")
    args = ap.parse_args()
    bench(args.repeat, args.src)


if __name__ == "__main__":
    main()
