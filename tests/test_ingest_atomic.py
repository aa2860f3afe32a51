"""Snapshots: a failed ingest leaves the lake unchanged; a changed resource replaces its rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from caretwin.errors import DataError
from caretwin.ingest import ingest_paths
from caretwin.lake import Lake

DATA = Path(__file__).parent / "data" / "fhir"


def _lake_files(lake_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(lake_dir).as_posix(): p.read_bytes()
        for p in sorted(lake_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def _encounter(eid: str, status: str, n_locations: int) -> dict[str, object]:
    locs = [{"location": {"reference": f"Location/l{i}"}} for i in range(n_locations)]
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"code": "IMP"},
        "location": locs,
    }


def test_truncated_gzip_fails_the_ingest_and_leaves_the_lake_unchanged(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    ingest_paths(lake_dir, [DATA / "bundle_transaction.json"])
    before = _lake_files(lake_dir)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a_good.ndjson").write_bytes((DATA / "mixed.ndjson").read_bytes())
    whole = gzip.compress(
        b"".join(orjson.dumps(_encounter(f"e{i}", "x", 1)) + b"\n" for i in range(2000))
    )
    (inputs / "b_cut.ndjson.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="cannot read"):
        ingest_paths(lake_dir, [inputs])
    assert _lake_files(lake_dir) == before
    assert not list((lake_dir / ".staging").iterdir())


def test_error_while_staging_tables_leaves_the_lake_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake_dir = tmp_path / "lake"
    ingest_paths(lake_dir, [DATA / "bundle_transaction.json"])
    before = _lake_files(lake_dir)
    calls = []

    def failing_build(*args: object) -> object:
        calls.append(args[1])
        raise OSError("simulated failure writing a table")

    monkeypatch.setattr("caretwin.ingest.tables.TableBuilder.build", failing_build)
    with pytest.raises(OSError, match="simulated"):
        ingest_paths(lake_dir, [DATA / "mixed.ndjson"])
    assert calls  # the failure happened after the raw table had been staged
    assert _lake_files(lake_dir) == before


def test_missing_input_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        ingest_paths(tmp_path / "lake", [tmp_path / "nope.ndjson"])
    assert not (tmp_path / "lake" / "catalog.json").exists()


def test_changed_resource_replaces_its_rows_latest_wins(tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1.ndjson", tmp_path / "v2.ndjson"
    v1.write_bytes(orjson.dumps(_encounter("e1", "in-progress", 3)) + b"\n")
    v2.write_bytes(orjson.dumps(_encounter("e1", "finished", 1)) + b"\n")
    first = ingest_paths(tmp_path / "lake", [v1])
    second = ingest_paths(tmp_path / "lake", [v2])
    assert second.snapshot_id != first.snapshot_id and not second.no_change
    lake = Lake(tmp_path / "lake")
    assert lake.query("SELECT status FROM encounters")["status"].to_pylist() == ["finished"]
    assert lake.counts()["movements"] == 1  # the old version's three movements are gone
    assert lake.counts()["resources"] == 2  # both raw versions are kept for lineage
    snaps = lake.catalog().snapshots
    assert [s.snapshot_id for s in snaps] == [first.snapshot_id, second.snapshot_id]
    assert snaps[-1].data_hash == lake.data_hash() == second.data_hash
