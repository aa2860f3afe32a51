"""Processes seen through Linux /proc, for tests that kill a parent and watch its children."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

#: Where a test can list a process's children (Linux with CONFIG_PROC_CHILDREN).
HAVE_PROC_CHILDREN = Path(f"/proc/self/task/{os.getpid()}/children").exists()


def children(pid: int) -> set[int]:
    """Direct children of ``pid`` (from /proc, all its threads)."""
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found |= {int(c) for c in (task / "children").read_text().split()}
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as dead: it holds no memory)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_parent_and_watch(
    proc: subprocess.Popen[bytes], ready: Callable[[set[int]], bool], timeout: float = 60
) -> dict[int, str]:
    """Wait until ``ready(children seen)``, SIGKILL ``proc``, and return the children still
    alive 5 s later (pid: command line). Leftovers are killed before returning."""
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= children(proc.pid)
            if ready(seen):
                break
            time.sleep(0.02)
        assert ready(seen), "the parent finished before its workers could be seen"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in seen):
            time.sleep(0.05)
        return {p: cmdline(p) for p in seen if alive(p)}
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in seen:  # never leave a few hundred MB behind, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
