"""Comparing two simulation results KPI by KPI: the Python API's ``caretwin.compare``.

Both results come from :func:`caretwin.simulate` with the same seed and number of replications,
so replication ``i`` of each saw the same random draws wherever the model lets them (common
random numbers) and the paired interval of the difference is the narrow one. The statistics are
:func:`caretwin.experiment.compare_values`. It lives in the experiment package (above the
engines) rather than in ``caretwin.sim``; ``import caretwin`` still does not pay for the
package's scipy.stats, since ``caretwin.compare`` is imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from caretwin.errors import CareTwinError
from caretwin.experiment.compare import Comparison, compare_values
from caretwin.sim.frames import pandas
from caretwin.sim.result import SimulationResult

if TYPE_CHECKING:
    import pandas as pd

_COLUMNS = [
    "baseline_mean",
    "variant_mean",
    "difference",
    "paired_ci95",
    "unpaired_ci95",
    "variance_reduction",
    "n",
]


@dataclass(frozen=True)
class Comparisons:
    """Per KPI, the variant's difference from the baseline with its 95% intervals."""

    baseline: str
    variant: str
    kpis: dict[str, Comparison]

    def significant(self) -> list[str]:
        """KPIs whose paired 95% interval of the difference excludes zero."""
        return [k for k, c in self.kpis.items() if c.paired_significant]

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame: one row per KPI (the index), the columns of :class:`Comparison`."""
        pd = pandas()
        rows = [
            {"kpi": k, **{col: getattr(c, col) for col in _COLUMNS}} for k, c in self.kpis.items()
        ]
        return pd.DataFrame(rows, columns=["kpi", *_COLUMNS]).set_index("kpi")


def compare(baseline: SimulationResult, variant: SimulationResult) -> Comparisons:
    """``variant`` against ``baseline``, replication by replication, for every shared KPI."""
    if baseline.seed != variant.seed or len(baseline.replications) != len(variant.replications):
        raise CareTwinError(
            "compare needs two results simulated with the same seed and number of replications "
            f"(got seed {baseline.seed}, {len(baseline.replications)} replications and "
            f"seed {variant.seed}, {len(variant.replications)})"
        )
    shared = [k for k in baseline.summary if k in variant.summary]
    kpis = {
        k: compare_values(
            k,
            [r.kpis.get(k, float("nan")) for r in baseline.replications],
            [r.kpis.get(k, float("nan")) for r in variant.replications],
        )
        for k in shared
    }
    return Comparisons(baseline.scenario, variant.scenario, kpis)
