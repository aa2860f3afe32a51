"""Running SQL on FHIR v2 conformance files (the official suite's format) through the runner.

A file holds ``resources`` and ``tests``; each test has a ``view`` and ``expect`` (rows, compared
as a multiset since the spec does not order rows), optionally ``expectColumns`` (names in
order), or ``expectError``. Tests tagged ``experimental`` are optional: they run and are
reported, but do not count against conformance.

Each test runs with ``engine="auto"``; when the compiler handled it, it runs again interpreted
and the two must agree (``cross_check``), so the SQL path is verified against fhirpathpy on
every case it claims. :func:`report_json` is the SQL on FHIR project's ``test_report.json``
shape: ``{file: {"tests": [{"name": title, "result": {"passed": bool}}]}}``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from caretwin.errors import CareTwinError, DataError
from caretwin.views.definition import parse_view
from caretwin.views.runner import MemorySource, ViewResult, run_view, try_compile


@dataclass
class CaseResult:
    file: str
    title: str
    passed: bool
    experimental: bool
    engine: str | None = None  # "compiled", "interpreted", or None (validation error)
    message: str | None = None
    native: bool = False  # the native engine ran too and agreed


@dataclass
class SuiteResult:
    cases: list[CaseResult] = field(default_factory=list)

    def required(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.experimental]

    def failures(self, include_experimental: bool = False) -> list[CaseResult]:
        pool = self.cases if include_experimental else self.required()
        return [c for c in pool if not c.passed]

    def summary(self) -> dict[str, Any]:
        req = self.required()
        engines = Counter(c.engine or "validation" for c in req)
        exp = [c for c in self.cases if c.experimental]
        return {
            "required": len(req),
            "passed": sum(c.passed for c in req),
            "compiled": engines.get("compiled", 0),
            "interpreted": engines.get("interpreted", 0),
            "native_checked": sum(c.native for c in req),
            "rejected_at_validation": engines.get("validation", 0),
            "experimental": len(exp),
            "experimental_passed": sum(c.passed for c in exp),
        }

    def headline(self) -> str:
        s = self.summary()
        return (
            f"SQL on FHIR v2: {s['passed']}/{s['required']} non-experimental passed "
            f"(compiled {s['compiled']} and checked against the native engine on "
            f"{s['native_checked']}, interpreted {s['interpreted']}, "
            f"rejected at validation {s['rejected_at_validation']}); "
            f"experimental {s['experimental_passed']}/{s['experimental']}"
        )

    def report_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.cases:
            entry = out.setdefault(c.file, {"tests": []})
            entry["tests"].append({"name": c.title, "result": {"passed": c.passed}})
        return out


def suite_files(path: Path) -> list[Path]:
    """The conformance files at ``path`` (a file, or every ``*.json`` of a folder)."""
    if path.is_dir():
        return sorted(p for p in path.glob("*.json") if p.is_file())
    return [path]


def run_suite(paths: list[Path], cross_check: bool = True) -> SuiteResult:
    result = SuiteResult()
    for path in paths:
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise DataError(f"cannot read conformance file {path}: {exc}") from exc
        resources = data.get("resources", [])
        source = MemorySource(resources)
        try:
            for test in data.get("tests", []):
                result.cases.append(run_case(path.name, test, source, cross_check))
        finally:
            source.close()
    return result


def run_case(
    file: str, test: dict[str, Any], source: MemorySource, cross_check: bool
) -> CaseResult:
    title = str(test.get("title"))
    experimental = "experimental" in (test.get("tags") or [])
    case = CaseResult(file, title, False, experimental)
    want_error = bool(test.get("expectError"))
    view = None
    try:
        view = parse_view(test.get("view"), source=title)
        got = run_view(view, source)
        rows = got.rows()
        case.engine = got.engine
        if got.engine == "compiled" and cross_check:
            other = run_view(view, source, engine="interpreted")
            if not _same_rows(rows, other.rows()):
                case.message = "compiled and interpreted results differ"
                return case
            native = run_view(view, source, engine="native")
            if not _same_rows(rows, native.rows()):
                case.message = "compiled and native results differ"
                return case
            if native.table.schema != got.table.schema:
                case.message = f"native schema {native.table.schema} != {got.table.schema}"
                return case
            case.native = True
    except CareTwinError as exc:
        case.passed = want_error
        case.message = None if want_error else f"{exc.__class__.__name__}: {exc}"
        if want_error and view is not None and cross_check and try_compile(view)[0] is not None:
            case.native = True  # the compiled SQL failed at run time: so must the native engine
            try:
                run_view(view, source, engine="native")
            except DataError:
                pass
            else:
                case.passed, case.message = False, "compiled failed but native gave rows"
        return case
    if want_error:
        case.message = "expected an error, got rows"
        return case
    if "expectColumns" in test and list(got.table.column_names) != test["expectColumns"]:
        case.message = f"columns {got.table.column_names} != {test['expectColumns']}"
        return case
    if "expect" in test and not _same_rows(rows, test["expect"]):
        case.message = f"rows differ: got {rows[:5]!r}, want {test['expect'][:5]!r}"
        return case
    case.passed = True
    return case


def _same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    return Counter(_key(r) for r in got) == Counter(_key(r) for r in want)


def _key(row: dict[str, Any]) -> bytes:
    return orjson.dumps(_norm(row), option=orjson.OPT_SORT_KEYS)


def _norm(value: Any) -> Any:
    """JSON numbers compare by value (1 == 1.0), as the suite's JSON does."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return str(value)


__all__ = ["CaseResult", "SuiteResult", "ViewResult", "run_case", "run_suite", "suite_files"]
