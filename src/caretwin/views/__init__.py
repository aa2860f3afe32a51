"""SQL on FHIR v2 ViewDefinitions: validation, a DuckDB compiler, a fhirpathpy interpreter.

:func:`parse_view` validates a ViewDefinition; :func:`run_view` runs it over a :class:`Source`
(:class:`LakeSource` for a workspace lake, :class:`MemorySource` for a list of resources),
compiled to SQL when possible and interpreted otherwise; :func:`canonical_table` produces a
CareTwin canonical table with the lake's types; :mod:`caretwin.views.catalog` finds shipped
views and workspace overrides; :mod:`caretwin.views.conformance` runs the official test suite.
"""

from __future__ import annotations

from caretwin.views.canonical import CANONICAL, canonical_table
from caretwin.views.catalog import ViewEntry, all_views, get_view, shipped_views
from caretwin.views.compiler import CompiledView, NotCompilable, compile_view
from caretwin.views.conformance import SuiteResult, run_suite, suite_files
from caretwin.views.definition import Column, Select, View, parse_view
from caretwin.views.runner import LakeSource, MemorySource, Source, ViewResult, run_view

__all__ = [
    "CANONICAL",
    "Column",
    "CompiledView",
    "LakeSource",
    "MemorySource",
    "NotCompilable",
    "Select",
    "Source",
    "SuiteResult",
    "View",
    "ViewEntry",
    "ViewResult",
    "all_views",
    "canonical_table",
    "compile_view",
    "get_view",
    "parse_view",
    "run_suite",
    "run_view",
    "shipped_views",
    "suite_files",
]
