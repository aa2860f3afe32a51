"""The lake on its own: typed empty views, the catalog commit point, rollback of a failed write."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from caretwin.errors import DataError
from caretwin.lake import EMPTY_HASH, SCHEMAS, TABLES, Lake, LakeWriter, set_hash


def test_empty_lake_has_every_table_as_a_typed_view(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    assert lake.counts() == dict.fromkeys(TABLES, 0)
    assert lake.data_hash() == EMPTY_HASH
    for name in TABLES:
        result = lake.query(f'SELECT * FROM "{name}"')
        assert result.num_rows == 0
        assert result.schema.names == SCHEMAS[name].names
    enc = lake.query('SELECT start, "end" FROM encounters').schema
    assert enc.field("start").type == pa.timestamp("us", tz="UTC")
    assert lake.query("SELECT birth_date FROM patients").schema.field(0).type == pa.date32()


def test_set_hash_is_order_independent() -> None:
    assert set_hash(["b", "a", "a"]) == set_hash(["a", "b"])
    assert set_hash([]) == EMPTY_HASH


def test_unknown_table_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        Lake(tmp_path).table_path("nope")
    with pytest.raises(DataError):
        Lake(tmp_path).query("SELECT * FROM nope")


def _patients(*ids: str) -> pa.Table:
    rows = [{"patient_id": i, "gender": "other", "birth_date": None, "mrn": None} for i in ids]
    return pa.Table.from_pylist(rows, schema=SCHEMAS["patients"])


def test_commit_replaces_and_deletes_superseded_files(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    with LakeWriter(tmp_path) as w:
        w.replace("patients", _patients("a", "b"))
        w.commit("h1", None)
    first = lake.table_files("patients")
    with LakeWriter(tmp_path) as w:
        w.replace("patients", _patients("c"))
        w.commit("h2", None)
    assert not any(f.exists() for f in first)
    assert lake.query("SELECT patient_id FROM patients")["patient_id"].to_pylist() == ["c"]
    assert lake.data_hash() == "h2"
    assert not any((tmp_path / ".staging").iterdir())


def test_failed_commit_leaves_the_lake_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LakeWriter(tmp_path) as w:
        w.replace("patients", _patients("a"))
        w.commit("h1", None)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("caretwin.lake.writer.write_catalog", boom)
    with pytest.raises(OSError), LakeWriter(tmp_path) as w:
        w.replace("patients", _patients("x", "y"))
        w.append("quarantine", SCHEMAS["quarantine"].empty_table())
        w.commit("h2", None)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert after == before
    assert Lake(tmp_path).query("SELECT patient_id FROM patients").num_rows == 1
