"""Executors: local processes and a real Dask cluster give exactly the serial results, in
replication order, and cluster problems surface as SimulationError."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest

from caretwin.errors import SimulationError
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.sim.compiled import CompiledModel, compile_definition
from caretwin.sim.engine import Engine
from caretwin.sim.executors import iter_replications, map_replications
from caretwin.sim.result import ReplicationResult

distributed = pytest.importorskip("distributed")

SEED = 42
REPS = 4


def engine_job(args: tuple[CompiledModel, int, int]) -> ReplicationResult:
    model, seed, rep = args
    return Engine(model, seed, rep).run()


def slow_first(i: int) -> int:
    """Early jobs finish last, so completion order is the reverse of job order."""
    time.sleep(0.05 * (6 - i) if i < 6 else 0.0)
    return i * i


def fails_on_three(i: int) -> int:
    if i == 3:
        raise ValueError("bad job")
    return i


@pytest.fixture(scope="module")
def jobs() -> list[tuple[CompiledModel, int, int]]:
    d = load_definition(example_path(REFERENCE_HOSPITAL))
    short = d.model_copy(update={"run": d.run.model_copy(update={"run_days": 60})})
    model = compile_definition(short)
    return [(model, SEED, i) for i in range(REPS)]


@pytest.fixture(scope="module")
def serial(jobs: list[tuple[CompiledModel, int, int]]) -> list[ReplicationResult]:
    return map_replications(engine_job, jobs, workers=1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port: never collides with a running cluster
        silence_logs=logging.ERROR,
    ) as c:
        yield c.scheduler_address


def assert_identical(a: list[ReplicationResult], b: list[ReplicationResult]) -> None:
    assert [r.replication for r in b] == list(range(REPS))
    assert [r.kpis for r in a] == [r.kpis for r in b]  # bit-identical floats
    assert [r.events for r in a] == [r.events for r in b]
    for ra, rb in zip(a, b, strict=True):
        for name, arr in ra.occupancy_daily.items():
            assert np.array_equal(arr, rb.occupancy_daily[name])
        for name, hist in ra.histograms.items():
            assert np.array_equal(hist, rb.histograms[name])


@pytest.mark.slow
def test_serial_results_are_replications_in_order(serial: list[ReplicationResult]) -> None:
    assert [r.replication for r in serial] == list(range(REPS))
    assert len({r.kpis["ed_wait_mean_h"] for r in serial}) == REPS  # distinct streams


@pytest.mark.slow
def test_local_processes_match_serial(
    jobs: list[tuple[CompiledModel, int, int]], serial: list[ReplicationResult]
) -> None:
    ticks: list[int] = []
    assert_identical(serial, map_replications(engine_job, jobs, workers=2, progress=ticks.append))
    assert sum(ticks) == REPS


@pytest.mark.slow
def test_dask_cluster_matches_serial(
    cluster: str, jobs: list[tuple[CompiledModel, int, int]], serial: list[ReplicationResult]
) -> None:
    ticks: list[int] = []
    got = map_replications(
        engine_job, jobs, executor="dask", scheduler=cluster, progress=ticks.append
    )
    assert_identical(serial, got)
    assert sum(ticks) == REPS


@pytest.mark.parametrize("executor", ["local", "dask"])
@pytest.mark.slow
def test_results_come_back_in_job_order(executor: str, cluster: str) -> None:
    scheduler = cluster if executor == "dask" else None
    jobs = list(range(10))
    got = map_replications(
        slow_first,
        jobs,
        workers=2,
        executor=executor,
        scheduler=scheduler,
    )
    assert got == [i * i for i in jobs]


@pytest.mark.slow
def test_dask_without_address_starts_a_local_cluster(
    jobs: list[tuple[CompiledModel, int, int]], serial: list[ReplicationResult]
) -> None:
    assert_identical(serial, map_replications(engine_job, jobs, workers=2, executor="dask"))


@pytest.mark.slow
def test_job_errors_become_simulation_errors(cluster: str) -> None:
    for kwargs in ({"workers": 1}, {"workers": 2}, {"executor": "dask", "scheduler": cluster}):
        with pytest.raises(SimulationError, match="ValueError: bad job"):
            map_replications(fails_on_three, list(range(6)), **kwargs)


def test_results_stream_before_the_last_job_runs() -> None:
    stream = iter_replications(slow_first, list(range(8)), workers=2)
    assert next(stream) == 0  # handed over while later jobs are still to run
    stream.close()  # abandoning the stream cancels what is left


def test_unreachable_scheduler_is_a_simulation_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(SimulationError, match=f"Dask scheduler at {address}"):
        map_replications(slow_first, [1], executor="dask", scheduler=address, connect_timeout=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "at least 1"),
        ({"executor": "spark"}, "unknown executor"),
        ({"scheduler": "tcp://127.0.0.1:8786"}, "needs executor='dask'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        map_replications(slow_first, [1], **kwargs)


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.slow
def test_simulate_on_the_cluster_equals_the_serial_run(cluster: str, engine: str) -> None:
    """The whole `simulate` path (`caretwin simulate --executor dask --scheduler ...`), with
    either engine, gives the serial run's numbers."""
    from caretwin.sim.runner import simulate

    d = load_definition(example_path(REFERENCE_HOSPITAL))
    short = d.model_copy(update={"run": d.run.model_copy(update={"run_days": 60})})
    on_cluster = simulate(
        short, replications=REPS, seed=SEED, engine=engine, executor="dask",
        scheduler=cluster, workers=2,
    )  # fmt: skip
    serial = simulate(short, replications=REPS, seed=SEED, engine="reference", workers=1)
    assert on_cluster.engine == engine and on_cluster.executor == "dask"
    assert_identical(serial.replications, on_cluster.replications)
    assert on_cluster.summary == serial.summary
