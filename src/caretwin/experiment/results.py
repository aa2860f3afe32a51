"""What an experiment produced, and its JSON form (the run record's ``outputs``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from caretwin.experiment.compare import Comparison
from caretwin.experiment.replications import ReplicationAdvice
from caretwin.experiment.search import SearchResult
from caretwin.experiment.spec import ExperimentSpec
from caretwin.experiment.variants import Value, Variant
from caretwin.experiment.warmup import WarmupAdvice
from caretwin.model.definition import TwinDefinition
from caretwin.sim.result import SimulationResult

__all__ = ["ExperimentResult", "VariantResult"]


@dataclass
class VariantResult:
    variant: Variant
    model_hash: str
    result: SimulationResult
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # vs baseline, per KPI

    def to_json(self, kpis: list[str]) -> dict[str, Any]:
        return {
            "kind": self.variant.kind,
            "scenario": self.variant.scenario,
            "overrides": self.variant.overrides,
            "model_hash": self.model_hash,
            "summary": {k: self.result.summary[k].to_json() for k in kpis},
            "per_replication": {k: [r.kpis.get(k) for r in self.result.replications] for k in kpis},
            "vs_baseline": {k: c.to_json() for k, c in self.comparisons.items()},
        }


@dataclass
class ExperimentResult:
    spec: ExperimentSpec
    model: TwinDefinition  # the model with the experiment's run overrides
    replications: int
    seed: int
    kpis: list[str]
    variants: list[VariantResult]
    sweep_axes: list[tuple[str, list[Value]]]
    replication_advice: ReplicationAdvice | None
    warmup_advice: WarmupAdvice | None
    searches: list[SearchResult]
    simulated_replications: int = 0

    @property
    def baseline(self) -> VariantResult:
        return self.variants[0]

    def variant(self, name: str) -> VariantResult:
        return next(v for v in self.variants if v.variant.name == name)

    def to_outputs(self) -> dict[str, Any]:
        """Deterministic outputs: same spec, model and seed give the same dict, bit for bit.

        Deliberately without a top-level ``kpis`` key, so that reproduction compares the whole
        of it (variants, comparisons, advisors and search), not just one part.
        """
        return {
            "model": self.model.name,
            "model_hash": self.model.content_hash(),
            "replications": self.replications,
            "seed": self.seed,
            "kpi_names": self.kpis,
            "sweeps": [{"path": p, "values": v} for p, v in self.sweep_axes],
            "variants": {v.variant.name: v.to_json(self.kpis) for v in self.variants},
            "advisors": {
                "replications": (
                    self.replication_advice.to_json() if self.replication_advice else None
                ),
                "warmup": self.warmup_advice.to_json() if self.warmup_advice else None,
            },
            "search": [s.to_json() for s in self.searches],
        }
