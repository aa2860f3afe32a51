"""Parsing chunks in worker processes, results in input order.

Parsing (orjson, checks, canonical dump, sha256) is the per-record Python work of an ingest, and
it is independent per chunk: with more than one core and enough input it runs in a
``spawn`` process pool while this process spools results to Parquet. At most ``2 x workers``
chunks are in flight, so memory stays bounded; results are taken in submission order, so the
lake is the same whatever the number of workers (``CARETWIN_INGEST_WORKERS`` overrides it; 1
parses in this process).

Workers die with this process (:func:`caretwin.lifetime.die_with_parent`): a killed ingest
must not leave its workers (a few hundred MB each) and the resource tracker running under init.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from caretwin.ingest.parse import Chunk, Parsed, parse_chunk
from caretwin.lifetime import die_with_parent

#: Below this much input, starting processes costs more than it saves.
PARALLEL_BYTES = 48 << 20


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
        max_workers=n, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        pending: deque[Future[Parsed]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(parse_chunk, chunk))
            if len(pending) >= 2 * n:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
