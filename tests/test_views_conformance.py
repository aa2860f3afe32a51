"""The official SQL on FHIR v2 test suite through CareTwin's view runner.

Every case runs with the compiler where it applies and is cross-checked against the fhirpathpy
interpreter (see caretwin.views.conformance). Writes the suite's ``test_report.json`` to
``$CARETWIN_SOF_REPORT`` (default: the pytest tmp dir) and prints the pass count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from tests.shared import shared_path

from caretwin.errors import DefinitionError
from caretwin.views.conformance import run_suite, suite_files
from caretwin.views.definition import parse_view


@pytest.mark.slow
def test_official_suite(tmp_path: Path, report_figure: Callable[[str], None]) -> None:
    suite = shared_path("conformance", "sql-on-fhir-v2")
    result = run_suite(suite_files(suite))
    report = Path(os.environ.get("CARETWIN_SOF_REPORT") or tmp_path / "test_report.json")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_bytes(orjson.dumps(result.report_json(), option=orjson.OPT_INDENT_2))
    print(f"\n{result.headline()}\ntest_report.json: {report}")
    report_figure(f"{result.headline()} (test_report.json: {report})")
    failures = [f"{c.file} :: {c.title}: {c.message}" for c in result.failures()]
    assert not failures, "\n".join(failures)
    summary = result.summary()
    assert summary["required"] == summary["passed"] > 100
    assert summary["compiled"] > summary["interpreted"]  # the fast path carries the suite
    written = orjson.loads(report.read_bytes())
    assert set(written) == {p.name for p in suite_files(suite)}
    assert all("passed" in t["result"] for f in written.values() for t in f["tests"])


@pytest.mark.parametrize(
    ("view", "path"),
    [
        ({"select": [{"column": [{"name": "id", "path": "id"}]}]}, "resource"),
        ({"resource": "Patient", "select": [{"forEach": 1}]}, "select[0].forEach"),
        (
            {"resource": "Patient", "select": [{"column": [{"path": "id"}]}]},
            "select[0].column[0].name",
        ),
        (
            {"resource": "Patient", "select": [{"column": [{"name": "a", "path": "@@"}]}]},
            "select[0].column[0].path",
        ),
        (
            {
                "resource": "Patient",
                "constant": [{"name": "c"}],
                "select": [{"column": [{"name": "a", "path": "%c"}]}],
            },
            "constant[0]",
        ),
    ],
)
def test_validation_names_the_path(view: dict[str, object], path: str) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_view(view)
    assert path in [p for p, _ in err.value.problems], err.value.problems
