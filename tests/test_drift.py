"""Drift after ingest: recent data against the calibration's parameter uncertainty.

Two lakes from RH1 with the same seed; in the second, ED arrivals are 30 % higher. A twin
calibrated on the first five weeks of the first lake sees no drift in the first lake's later
weeks, and an alert naming the arrival rates in the second's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from caretwin.calibrate import calibrate_lake
from caretwin.calibrate.extract import extract
from caretwin.ingest import ingest_paths
from caretwin.lake import Lake
from caretwin.model import REFERENCE_HOSPITAL, TwinDefinition, example_path, load_definition
from caretwin.synth import generate
from caretwin.validation.drift import check_drift

pytestmark = pytest.mark.slow

RH1 = load_definition(example_path(REFERENCE_HOSPITAL))


def _surge(defn: TwinDefinition, factor: float) -> TwinDefinition:
    ed = defn.arrivals["ed"].model_copy(update={"multiplier": factor})
    return defn.model_copy(update={"arrivals": {**defn.arrivals, "ed": ed}})


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Lake]]:
    root = tmp_path_factory.mktemp("drift")
    out = {}
    for name, model in (("same", RH1), ("surge", _surge(RH1, 1.3))):
        generate(model, 56, 5, root / name / "data")
        (root / name / "lake").mkdir(parents=True)
        ingest_paths(root / name / "lake", [root / name / "data"], workers=1)
        out[name] = Lake(root / name / "lake")
    yield out


def test_no_alert_on_the_same_hospital_and_an_alert_on_a_surge(lakes: dict[str, Lake]) -> None:
    # five weeks: too few CT failures for the usual minimum, which drift does not need
    cal = calibrate_lake(lakes["same"], RH1, date(2025, 1, 6), date(2025, 2, 10), min_n=2)
    same = check_drift(extract(lakes["same"]), cal.definition)
    assert (same.date_from, same.date_to) == (date(2025, 2, 10), date(2025, 3, 3))
    assert len(same.items) >= 8 and not same.alert, same.message()
    surge = check_drift(extract(lakes["surge"]), cal.definition)
    assert surge.alert
    assert "arrivals.ed.rates" in [i.parameter for i in surge.moved]
    assert "recalibrate" in surge.message() and "arrivals.ed.rates" in surge.message()


def test_no_check_without_data_after_the_window(lakes: dict[str, Lake]) -> None:
    cal = calibrate_lake(lakes["same"], RH1, min_n=2)
    res = check_drift(extract(lakes["same"]), cal.definition)
    assert not res.alert and not res.items and "after the calibration window" in res.note
