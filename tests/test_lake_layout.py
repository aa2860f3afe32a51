"""The lake on disk: hive-style partitions that Dask reads unchanged, and leftovers swept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from caretwin.ingest import ingest_paths
from caretwin.lake import SCHEMAS, Lake, LakeWriter
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.synth import generate


@pytest.mark.slow
def test_dask_reads_the_partitioned_lake_as_duckdb_does(tmp_path: Path) -> None:
    dd = pytest.importorskip("dask.dataframe")  # needs pandas: the dask[dataframe] extra
    import pandas as pd

    generate(load_definition(example_path(REFERENCE_HOSPITAL)), 7, 3, tmp_path / "data")
    lake = Lake(tmp_path / "lake")
    ingest_paths(lake.lake_dir, [tmp_path / "data"])
    months = {f.split("/")[0] for f in lake.catalog().entry("encounters").files}
    assert months and all(m.startswith("month=") for m in months)
    raw_parts = {f.split("/")[0] for f in lake.catalog().entry("resources").files}
    assert "type=Encounter" in raw_parts
    for table, key in (("encounters", "encounter_id"), ("movements", "encounter_id"),
                       ("resources", "content_hash")):  # fmt: skip
        cols = SCHEMAS[table].names
        duck = lake.query(f'SELECT * FROM "{table}"').to_pandas()[cols]
        frame = dd.read_parquet(str(lake.table_path(table)), engine="pyarrow")
        got = frame.compute()[cols]  # partition folders add columns (month, type): derived
        order = [key, "seq"] if table == "movements" else [key]
        assert _rows(got.sort_values(order), pd) == _rows(duck.sort_values(order), pd), table


def _rows(frame: Any, pd: Any) -> list[tuple[Any, ...]]:
    """Rows with every kind of missing value (None, NaN, NA, NaT) as None."""
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


def test_next_writer_sweeps_files_no_catalog_lists(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    with LakeWriter(lake_dir) as w:
        w.replace("patients", SCHEMAS["patients"].empty_table())
        w.commit("h", None)
    stray = lake_dir / "tables" / "encounters" / "month=2025-01" / "part-killed.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"left by a killed ingest")
    (lake_dir / ".staging" / "dead").mkdir(parents=True)
    with LakeWriter(lake_dir):
        pass
    assert not stray.exists() and not stray.parent.exists()
    assert [p.name for p in (lake_dir / ".staging").iterdir()] == []
