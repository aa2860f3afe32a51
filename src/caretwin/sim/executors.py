"""Where replications run: in this process, on local worker processes, or on a Dask cluster.

One interface, :func:`map_replications` (and its streaming form :func:`iter_replications`),
takes a picklable job function and a list of jobs and hands the results back **in job order**,
whatever the executor, the number of workers or the order in which workers finish. Because each
replication draws only from streams keyed by ``(seed, replication, ...)``, the results are then
bit-identical to a serial run.

Memory stays bounded: at most ``window`` jobs are in flight or waiting in the reorder buffer at
any time (a slow replication holds back submissions instead of letting finished results pile
up), so a caller that folds the results as they stream (a running summary) holds a constant
amount, and a caller that keeps the list holds only the small per-replication results, never a
replication's events.

The Dask executor connects to a running scheduler (``tcp://host:8786``) or, with no address,
starts a :class:`distributed.LocalCluster` for the duration of the call. Failures to reach the
cluster, workers without CareTwin or with another version, and lost workers become
:class:`~caretwin.errors.SimulationError` with a message that says what to check.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, TypeVar

from caretwin.errors import CareTwinError, SimulationError
from caretwin.lifetime import die_with_parent

J = TypeVar("J")
R = TypeVar("R")
F = TypeVar("F")  # a future of the executor in use
ExecutorKind = Literal["local", "dask"]
Progress = Callable[[int], None]

CONNECT_TIMEOUT_S = 30.0
WORKERS_TIMEOUT_S = 60.0
_IN_FLIGHT_PER_WORKER = 2  # keeps every worker busy while one result is being handed back


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def caretwin_version() -> str:
    try:
        return version("caretwin")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def map_replications(
    job_fn: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int | None = None,
    executor: ExecutorKind = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> list[R]:
    """Run ``job_fn(job)`` for every job; the results in job order.

    ``workers``: local processes (default: all cores; 1 runs in this process), or the size of
    the local Dask cluster started when ``executor="dask"`` and no ``scheduler`` is given.
    ``scheduler``: a Dask scheduler address such as ``tcp://host:8786``.
    ``progress(1)`` is called as each job completes. ``job_fn`` must be importable by the
    workers (a module-level function of an installed package).
    """
    return list(
        iter_replications(
            job_fn,
            jobs,
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            progress=progress,
            connect_timeout=connect_timeout,
        )
    )


def iter_replications(
    job_fn: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int | None = None,
    executor: ExecutorKind = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> Iterator[R]:
    """Like :func:`map_replications`, yielding each result as soon as its turn comes."""
    if workers is not None and workers < 1:
        raise SimulationError("workers must be at least 1")
    if executor == "dask":
        return _dask(job_fn, jobs, workers, scheduler, progress, connect_timeout)
    if executor != "local":
        raise SimulationError(f"unknown executor {executor!r} (expected 'local' or 'dask')")
    if scheduler is not None:
        raise SimulationError("a scheduler address needs executor='dask'")
    n = min(workers or default_workers(), max(1, len(jobs)))
    if n == 1:
        return _serial(job_fn, jobs, progress)
    return _local(job_fn, jobs, n, progress)


def _call(job_fn: Callable[[J], R], job: J) -> R:
    """Run one job where it is executed, translating foreign errors there (they then pickle
    back as a :class:`SimulationError` from any worker, local or remote)."""
    try:
        return job_fn(job)
    except CareTwinError:
        raise
    except RecursionError as exc:
        raise SimulationError(f"model too deeply chained to simulate: {exc}") from None
    except Exception as exc:
        raise SimulationError(f"a replication failed: {type(exc).__name__}: {exc}") from exc


def _serial(job_fn: Callable[[J], R], jobs: Sequence[J], progress: Progress | None) -> Iterator[R]:
    for job in jobs:
        yield _call(job_fn, job)
        if progress:
            progress(1)


def _local(
    job_fn: Callable[[J], R], jobs: Sequence[J], workers: int, progress: Progress | None
) -> Iterator[R]:
    # workers die with this process: a killed run leaves no replication running under init
    with ProcessPoolExecutor(
        max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:

        def submit(i: int) -> Future[R]:
            return pool.submit(_call, job_fn, jobs[i])

        def wait_first(running: list[Future[R]]) -> set[Future[R]]:
            return wait(running, return_when=FIRST_COMPLETED).done

        def result(fut: Future[R]) -> R:
            try:
                return fut.result()
            except BrokenProcessPool as exc:
                raise SimulationError(
                    f"a local worker process died while running replications ({exc}); "
                    "it may have run out of memory: try fewer workers"
                ) from None

        yield from _windowed(
            submit, wait_first, result, Future.cancel, len(jobs), workers, progress
        )


def _windowed(
    submit: Callable[[int], F],
    wait_first: Callable[[list[F]], set[F]],
    result: Callable[[F], R],
    cancel: Callable[[F], Any],
    n_jobs: int,
    slots: int,
    progress: Progress | None,
) -> Iterator[R]:
    """Submit jobs within a window of the next result owed, yield results in job order.

    Job ``i`` is submitted only once ``i < next_owed + window``, so at most ``window`` jobs are
    running or waiting to be reordered: memory is bounded whatever the number of jobs.
    """
    window = max(1, slots) * _IN_FLIGHT_PER_WORKER
    running: dict[F, int] = {}
    done: dict[int, R] = {}
    submitted = emitted = 0
    try:
        while emitted < n_jobs:
            while submitted < n_jobs and submitted < emitted + window:
                running[submit(submitted)] = submitted
                submitted += 1
            for fut in wait_first(list(running)):
                done[running.pop(fut)] = result(fut)
                if progress:
                    progress(1)
            while emitted in done:
                yield done.pop(emitted)
                emitted += 1
    finally:
        for fut in running:
            cancel(fut)


# -- Dask -------------------------------------------------------------------------------------


def _dask(
    job_fn: Callable[[J], R],
    jobs: Sequence[J],
    workers: int | None,
    scheduler: str | None,
    progress: Progress | None,
    connect_timeout: float,
) -> Iterator[R]:
    try:
        import distributed as _distributed
    except ImportError:  # pragma: no cover - the dask extra is not installed
        raise SimulationError(
            "the Dask executor needs the 'dask' extra: pip install 'caretwin[dask]'"
        ) from None
    distributed: Any = _distributed  # largely unannotated upstream
    with ExitStack() as stack:
        client = _connect(stack, distributed, scheduler, workers, connect_timeout)
        where = scheduler or "a local Dask cluster"
        slots = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())

        # as_completed is bound to the futures' own client (distributed.wait would want a
        # default client, which this module never installs).
        finished = distributed.as_completed(loop=client.loop)

        def submit(i: int) -> Any:
            fut = client.submit(_call, job_fn, jobs[i], pure=False)
            finished.add(fut)
            return fut

        def wait_first(running: list[Any]) -> set[Any]:
            return {next(finished)}

        def result(fut: Any) -> R:
            try:
                out: R = fut.result()
            except CareTwinError:
                raise
            except (OSError, CancelledError, distributed.KilledWorker) as exc:
                raise SimulationError(
                    f"lost the Dask cluster at {where} while running replications "
                    f"({type(exc).__name__}: {exc}); a worker may have run out of memory or "
                    "the scheduler stopped"
                ) from exc
            except Exception as exc:
                raise SimulationError(
                    f"a replication failed on a Dask worker ({type(exc).__name__}: {exc}); "
                    "check that every worker runs the same CareTwin version as this machine "
                    f"({caretwin_version()})"
                ) from exc
            return out

        yield from _windowed(submit, wait_first, result, client.cancel, len(jobs), slots, progress)


def _connect(
    stack: ExitStack,
    distributed: Any,
    scheduler: str | None,
    workers: int | None,
    timeout: float,
) -> Any:
    """A client on ``scheduler`` (or on a LocalCluster closed with ``stack``), checked."""
    if scheduler is None:
        cluster = stack.enter_context(
            distributed.LocalCluster(
                n_workers=workers or default_workers(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: never collides with a running cluster
                silence_logs=logging.ERROR,
            )
        )
        address = cluster.scheduler_address
    else:
        address = scheduler
    try:
        client = stack.enter_context(
            distributed.Client(address, timeout=timeout, set_as_default=False)
        )
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        versions = client.get_versions(packages=["caretwin"])
    except (OSError, TimeoutError) as exc:
        raise SimulationError(
            f"cannot use the Dask scheduler at {address}: {exc}. Is `dask scheduler` running "
            "there, reachable from this machine, with at least one `dask worker` attached?"
        ) from None
    ours = caretwin_version()
    wrong = {
        addr: (info.get("packages") or {}).get("caretwin")
        for addr, info in versions.get("workers", {}).items()
        if (info.get("packages") or {}).get("caretwin") != ours
    }
    if wrong:
        listed = ", ".join(f"{a}: {v or 'not installed'}" for a, v in sorted(wrong.items()))
        raise SimulationError(
            f"Dask workers must run CareTwin {ours} like this machine (results would not be "
            f"reproducible otherwise); found {listed}"
        )
    return client


def describe(executor: ExecutorKind, workers: int | None, scheduler: str | None) -> dict[str, Any]:
    """What ran where, for run manifests and audit details (no hosts beyond the address given)."""
    return {
        "executor": executor,
        "workers": workers or default_workers(),
        "scheduler": scheduler if executor == "dask" else None,
        "caretwin_version": caretwin_version(),
    }
