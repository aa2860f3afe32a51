"""Per-patient random draws keyed by entity (common random numbers across scenarios).

A patient is identified for its draws by ``(arrival stream, number in that stream)``. Its
attributes come at arrival from the stream's attribute draws (in arrival order, which does not
depend on capacities); its duration at a step, its routing uniform after a step and its patience
at a step are the n-th values of streams keyed by ``(arrival stream, step, ...)``, served by
:class:`~caretwin.sim.streams.KeyedDraws` in whatever order patients get there. A step a patient
can visit twice (a loop) is keyed by the visit number too.

Patients without an arrival identity (``src < 0``: e.g. started from a census by a warm start)
draw from per-step streams in event order, as every patient did before entity keying.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caretwin.model.distributions import Distribution
from caretwin.sim.compiled import CArrival, CompiledModel, CStep
from caretwin.sim.streams import (
    BlockStream,
    KeyedDraws,
    Purpose,
    generator,
    sampler,
    uniforms,
)

if TYPE_CHECKING:
    from caretwin.sim.engine import Patient

_Key = tuple[int, int, int, int]


class EntityDraws:
    """Every per-patient draw of one replication."""

    __slots__ = (
        "_attr",
        "_dur",
        "_fallback",
        "_patience",
        "_route",
        "dur0",
        "m",
        "rep",
        "route0",
        "seed",
    )

    def __init__(self, model: CompiledModel, seed: int, replication: int) -> None:
        self.m = model
        self.seed = seed
        self.rep = replication
        self._attr = [
            [
                uniforms(generator(seed, replication, Purpose.ENTITY_ATTRIBUTE, a.index, ai))
                for ai, _, _ in a.attributes
            ]
            for a in model.arrivals
        ]
        self._dur: dict[_Key, KeyedDraws] = {}
        self._route: dict[_Key, KeyedDraws] = {}
        self._patience: dict[_Key, KeyedDraws] = {}
        self._fallback: dict[tuple[int, int, int], BlockStream] = {}
        # The common case, prepared up front for the engine's hot path: by step, then arrival
        # stream, the keyed draws of a step with one unconditional duration (or routing table)
        # that no patient visits twice; None elsewhere.
        self.dur0: list[list[KeyedDraws | None]] = []
        self.route0: list[list[KeyedDraws | None]] = []
        for s in model.steps:
            simple = not s.revisit
            feeds = [a.pathway == s.pathway for a in model.arrivals]
            self.dur0.append(
                [
                    self._keyed(
                        self._dur, Purpose.ENTITY_DURATION, (a, s.index, 0, 0), s.durations[0]
                    )
                    if f and simple and s.durations and s.dur_attr < 0
                    else None
                    for a, f in enumerate(feeds)
                ]
            )
            self.route0.append(
                [
                    self._keyed(self._route, Purpose.ENTITY_ROUTING, (a, s.index, 0, 0), None)
                    if f and simple and s.route_attr < 0 and len(s.targets) > 1
                    else None
                    for a, f in enumerate(feeds)
                ]
            )

    def attributes(self, arr: CArrival) -> list[int]:
        """Value index per model attribute for the next patient of ``arr`` (-1: not drawn)."""
        out = [-1] * len(self.m.attributes.names)
        for stream, (ai, values, cum) in zip(self._attr[arr.index], arr.attributes, strict=True):
            u = stream()
            for v, c in zip(values, cum, strict=True):
                if u < c:
                    out[ai] = v
                    break
            else:
                out[ai] = values[-1]
        return out

    def _keyed(
        self, table: dict[_Key, KeyedDraws], purpose: Purpose, key: _Key, dist: Distribution | None
    ) -> KeyedDraws:
        kd = table.get(key)
        if kd is None:
            rng = generator(self.seed, self.rep, purpose, *key)
            kd = KeyedDraws(rng.random if dist is None else (lambda n: dist.sample(rng, n)))
            table[key] = kd
        return kd

    def _event_order(
        self, purpose: Purpose, step: int, slot: int, dist: Distribution | None
    ) -> float:
        key = (int(purpose), step, slot)
        bs = self._fallback.get(key)
        if bs is None:
            # the pre-entity keys (replication, purpose, step) for slot 0, so census patients of
            # an unconditional step draw exactly as before
            more = (slot,) if slot else ()
            rng = generator(self.seed, self.rep, purpose, step, *more)
            bs = uniforms(rng) if dist is None else sampler(dist, rng)
            self._fallback[key] = bs
        return bs()

    @staticmethod
    def _visit(p: Patient, step: CStep) -> int:
        return p.visits.get(step.index, 0) if step.revisit and p.visits else 0

    def duration(self, p: Patient, step: CStep) -> float:
        slot = step.dur_case[_value(p, step.dur_attr)] if step.dur_attr >= 0 else 0
        dist = step.durations[slot]
        if p.src < 0:
            return self._event_order(Purpose.DURATION, step.index, slot, dist)
        key = (p.src, step.index, slot, self._visit(p, step))
        return self._keyed(self._dur, Purpose.ENTITY_DURATION, key, dist).at(p.n)

    def route(self, p: Patient, step: CStep) -> int:
        table = step.routes[step.route_case[_value(p, step.route_attr)]]
        targets, cum = table
        if len(targets) == 1:
            return targets[0]
        if p.src < 0:
            u = self._event_order(Purpose.ROUTING, step.index, 0, None)
        else:
            key = (p.src, step.index, self._visit(p, step), 0)
            u = self._keyed(self._route, Purpose.ENTITY_ROUTING, key, None).at(p.n)
        for target, c in zip(targets, cum, strict=True):
            if u < c:
                return target
        return targets[-1]

    def patience(self, p: Patient, step: CStep) -> float:
        assert step.patience is not None
        if p.src < 0:
            return self._event_order(Purpose.PATIENCE, step.index, 0, step.patience)
        key = (p.src, step.index, self._visit(p, step), 0)
        return self._keyed(self._patience, Purpose.ENTITY_PATIENCE, key, step.patience).at(p.n)


def _value(p: Patient, attr: int) -> int:
    """The patient's value index of attribute ``attr`` (-1, the default case, when it has none)."""
    attrs = p.attrs
    return attrs[attr] if 0 <= attr < len(attrs) else -1
