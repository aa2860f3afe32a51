"""CareTwin's own engines, registered through the ``register_engines`` hook like any plugin's.

* ``fast``: the numba core (:mod:`caretwin.sim.fast`), first choice of ``--engine auto``;
* ``reference``: the pure-Python engine (:mod:`caretwin.sim.engine`), which runs every model.

Both give bit-identical results. Engines receive one ``SeedSequence`` per replication
(:func:`replication_seed`); the built-in cores key their streams by the ``(seed, replication)``
pair it carries (:func:`seed_and_replication`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caretwin.plugins import EngineSpec, hookimpl

if TYPE_CHECKING:
    import numpy as np

    from caretwin.sim.compiled import CompiledModel
    from caretwin.sim.result import ReplicationResult


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """The ``SeedSequence`` of replication ``replication`` of a run with root seed ``seed``."""
    import numpy as np

    return np.random.SeedSequence(entropy=seed, spawn_key=(replication,))


def seed_and_replication(seed_seq: np.random.SeedSequence) -> tuple[int, int]:
    """The root seed and replication index a :func:`replication_seed` sequence carries."""
    entropy = seed_seq.entropy
    if not isinstance(entropy, int) or len(seed_seq.spawn_key) != 1:
        raise ValueError("expected the SeedSequence of one replication (replication_seed)")
    return entropy, int(seed_seq.spawn_key[0])


def run_reference(model: CompiledModel, seed_seq: np.random.SeedSequence) -> ReplicationResult:
    from caretwin.sim.engine import Engine

    seed, rep = seed_and_replication(seed_seq)
    return Engine(model, seed, rep).run()


def run_fast(model: CompiledModel, seed_seq: np.random.SeedSequence) -> ReplicationResult:
    from caretwin.sim.fast import run_replication_fast

    seed, rep = seed_and_replication(seed_seq)
    return run_replication_fast(model, seed, rep)


def _fast_supports(model: CompiledModel) -> str | None:
    from caretwin.sim import fast  # light: numba itself loads only when a fast run starts

    return fast.supports(model)


def _fast_prepare(model: CompiledModel) -> None:
    from caretwin.sim.fast import warm_up

    warm_up(model)


@hookimpl
def register_engines() -> list[EngineSpec]:
    return [
        EngineSpec(
            "fast",
            "numba core, bit-identical to the reference engine",
            run=run_fast,
            supports=_fast_supports,
            prepare=_fast_prepare,
            auto_rank=0,
        ),
        EngineSpec(
            "reference",
            "pure-Python discrete-event engine; runs every model",
            run=run_reference,
            auto_rank=100,
        ),
    ]
