"""A killed multi-worker ingest leaves no worker process nor resource tracker running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc"),
]


def _children(pid: int) -> set[int]:
    """Direct children of ``pid`` (from /proc, all its threads)."""
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found |= {int(c) for c in (task / "children").read_text().split()}
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as dead: it holds no memory)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _write_encounters(path: Path, n: int) -> None:
    with open(path, "wb") as fh:
        for i in range(n):
            enc = {
                "resourceType": "Encounter",
                "id": f"enc-{i}",
                "status": "finished",
                "class": {"code": "IMP"},
                "subject": {"reference": f"Patient/p{i % 997}"},
                "period": {"start": "2025-01-01T10:00:00Z", "end": "2025-01-02T10:00:00Z"},
                "location": [{"location": {"reference": f"Location/l{i % 13}"}}],
            }
            fh.write(orjson.dumps(enc) + b"\n")


def test_killing_the_ingest_kills_its_workers_and_resource_tracker(tmp_path: Path) -> None:
    data = tmp_path / "Encounter.000.ndjson"
    _write_encounters(data, 120_000)  # ~35 MB: 9 chunks, a few seconds of parsing
    script = (
        "import sys; from pathlib import Path; from caretwin.ingest import ingest_paths; "
        "ingest_paths(Path(sys.argv[1]), [Path(sys.argv[2])], workers=2)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "lake"), str(data)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= _children(proc.pid)
            workers = {p for p in seen if "multiprocessing.spawn" in _cmdline(p)}
            if len(workers) >= 2:
                break
            time.sleep(0.02)
        assert len(workers) >= 2, "the ingest finished before its workers could be seen"
        assert any("resource_tracker" in _cmdline(p) for p in seen)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in seen):
            time.sleep(0.05)
        left = {p: _cmdline(p) for p in seen if _alive(p)}
        assert not left, f"processes outlived the killed ingest: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in seen:  # never leave a few hundred MB behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
