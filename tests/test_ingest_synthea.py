"""Ingesting the real Synthea sample (../shared): counts, idempotence, gzip, throughput."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from tests.shared import shared_path

from caretwin.ingest import ingest_paths
from caretwin.lake import EMPTY_HASH, Lake

EXPECTED = {"Patient": 13, "Encounter": 1215, "Location": 44, "Device": 16, "Procedure": 2056}
ALL_LINES = 4028


@pytest.fixture()
def synthea() -> Path:
    return shared_path("data", "synthea-10-patients")


@pytest.mark.slow
def test_synthea_counts_and_reingest(tmp_path: Path, synthea: Path) -> None:
    lake_dir = tmp_path / "lake"
    report = ingest_paths(lake_dir, [synthea])
    print(
        f"synthea: {report.records} records in {report.seconds:.3f}s "
        f"= {report.resources_per_second:,.0f}/s"
    )
    for rtype, n in EXPECTED.items():
        assert report.counts[rtype].added == n
    assert report.quarantined == 0
    assert report.counts["Condition"].added == 555
    assert not report.no_change
    assert report.data_hash == report.snapshot_id  # first ingest into an empty lake

    lake = Lake(lake_dir)
    counts = lake.counts()
    assert counts["resources"] == ALL_LINES
    assert (counts["patients"], counts["encounters"], counts["locations"]) == (13, 1215, 44)
    assert (counts["devices"], counts["procedures"]) == (16, 2056)
    assert counts["movements"] == 1215  # one facility location per Synthea encounter
    # Synthea's Location?identifier=... references resolve to the Location ids in the lake.
    unresolved = lake.query("SELECT count(*) n FROM movements WHERE location_id LIKE 'Location?%'")
    assert unresolved["n"][0].as_py() == 0
    dangling = lake.query(
        "SELECT count(*) n FROM encounters e LEFT JOIN patients p USING (patient_id)"
        " WHERE p.patient_id IS NULL"
    )
    assert dangling["n"][0].as_py() == 0

    again = ingest_paths(lake_dir, [synthea])
    assert again.no_change and again.snapshot_id == EMPTY_HASH
    assert again.counts["Encounter"].unchanged == 1215
    assert lake.counts() == counts
    assert lake.data_hash() == report.data_hash


@pytest.mark.slow
def test_gzip_ndjson_gives_the_same_lake(tmp_path: Path, synthea: Path) -> None:
    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    for src in synthea.glob("*.ndjson"):
        with open(src, "rb") as fin, gzip.open(gz_dir / f"{src.name}.gz", "wb") as fout:
            shutil.copyfileobj(fin, fout)
    plain = ingest_paths(tmp_path / "a", [synthea])
    gzipped = ingest_paths(tmp_path / "b", [gz_dir])
    assert gzipped.snapshot_id == plain.snapshot_id
    assert {t: c.added for t, c in gzipped.counts.items()} == {
        t: c.added for t, c in plain.counts.items()
    }
