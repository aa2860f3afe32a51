"""Results as DataFrames and ``caretwin.compare``: the Python API's shapes and its errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import caretwin
from caretwin.experiment import compare_values

MODEL = Path(__file__).parents[1] / "examples" / "model.yaml"


@pytest.fixture(scope="module")
def runs() -> tuple[caretwin.SimulationResult, caretwin.SimulationResult]:
    d = caretwin.load_definition(MODEL)
    d = d.model_copy(update={"run": d.run.model_copy(update={"run_days": 7.0})})
    base = caretwin.simulate(d, replications=4, seed=3)
    more = caretwin.simulate(
        caretwin.apply_scenario(d, "four_rooms"), replications=4, seed=3, scenario_label="four"
    )
    return base, more


def test_summary_and_replications_as_frames(runs: tuple[caretwin.SimulationResult, ...]) -> None:
    base, _ = runs
    frame = base.to_frame()
    assert list(frame.index) == list(base.summary)
    assert list(frame.columns) == ["label", "unit", "mean", "ci95", "sd", "n"]
    assert frame.loc["wait_h", "mean"] == base.summary["wait_h"].mean
    reps = base.replications_frame()
    assert reps.shape == (4, len(base.summary))
    assert reps["wait_h"].tolist() == [r.kpis["wait_h"] for r in base.replications]


def test_compare_pairs_replications(runs: tuple[caretwin.SimulationResult, ...]) -> None:
    base, more = runs
    diff = caretwin.compare(base, more)
    assert (diff.baseline, diff.variant) == ("baseline", "four")
    expected = compare_values(
        "wait_h",
        [r.kpis["wait_h"] for r in base.replications],
        [r.kpis["wait_h"] for r in more.replications],
    )
    assert diff.kpis["wait_h"] == expected
    frame = diff.to_frame()
    assert frame.loc["wait_h", "difference"] == expected.difference
    assert "wait_h" in diff.significant()


def test_compare_refuses_unpaired_results(runs: tuple[caretwin.SimulationResult, ...]) -> None:
    base, _ = runs
    other = caretwin.simulate(caretwin.load_definition(MODEL), replications=2, seed=4)
    with pytest.raises(caretwin.CareTwinError, match="same seed"):
        caretwin.compare(base, other)


def test_frames_without_pandas_say_how_to_get_it(
    runs: tuple[caretwin.SimulationResult, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(caretwin.ConfigError, match=r"caretwin\[pandas\]"):
        runs[0].to_frame()
