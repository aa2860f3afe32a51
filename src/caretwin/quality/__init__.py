"""Data quality of the lake: table profiles and checks, per snapshot.

:func:`assess` runs the checks of :mod:`caretwin.quality.checks` (unresolved references, periods
ending before they start, overlapping location periods within an encounter, codes outside their
value sets) as SQL over the lake's DuckDB views and returns a :class:`QualityReport` holding counts
and example ids only. :mod:`caretwin.quality.lineage` answers what a snapshot added and what
changed between two snapshots, from the raw layer. The audited entry points are in
:mod:`caretwin.services.snapshots`.
"""

from __future__ import annotations

from caretwin.quality.checks import CHECKS, Check
from caretwin.quality.result import ColumnProfile, Finding, QualityReport, TableProfile, ValueCount
from caretwin.quality.run import assess
from caretwin.quality.valuesets import ValueSet, load_value_set, value_set_ids

__all__ = [
    "CHECKS",
    "Check",
    "ColumnProfile",
    "Finding",
    "QualityReport",
    "TableProfile",
    "ValueCount",
    "ValueSet",
    "assess",
    "load_value_set",
    "value_set_ids",
]
