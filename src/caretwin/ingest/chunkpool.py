"""Parsing chunks in worker processes, results in input order.

Parsing (orjson, checks, canonical dump, sha256) is the per-record Python work of an ingest, and
it is independent per chunk: with more than one core and enough input it runs in a
``spawn`` process pool while this process spools results to Parquet. At most ``2 x workers``
chunks are in flight, so memory stays bounded; results are taken in submission order, so the
lake is the same whatever the number of workers (``CARETWIN_INGEST_WORKERS`` overrides it; 1
parses in this process).

Workers die with this process: a killed ingest (SIGKILL, OOM killer) must not leave its workers
(a few hundred MB each) and multiprocessing's resource tracker running under init. On Linux
each worker asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``); everywhere a
watchdog thread in the worker exits when its parent process changes. The resource tracker exits
by itself once every holder of its pipe (this process and the workers) is gone.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from caretwin.ingest.parse import Chunk, Parsed, parse_chunk

#: Below this much input, starting processes costs more than it saves.
PARALLEL_BYTES = 48 << 20


#: prctl(2) option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1
#: How often a worker's watchdog looks for its parent (where PDEATHSIG is unavailable).
WATCH_SECONDS = 0.5


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when ``parent`` (the ingesting process) dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the watchdog still works
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # orphaned: nobody will read our results


def worker_count(size: int, workers: int | None) -> int:
    if workers is None:
        env = os.environ.get("CARETWIN_INGEST_WORKERS")
        auto = min(os.cpu_count() or 1, 4) if size >= PARALLEL_BYTES else 1
        workers = int(env) if env else auto
    return max(1, workers)


def parse_all(chunks: Iterable[Chunk], size: int, workers: int | None = None) -> Iterator[Parsed]:
    """``parse_chunk`` of every chunk, in order."""
    n = worker_count(size, workers)
    if n == 1:
        for chunk in chunks:
            yield parse_chunk(chunk)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=n, mp_context=ctx, initializer=_die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        pending: deque[Future[Parsed]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(parse_chunk, chunk))
            if len(pending) >= 2 * n:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
