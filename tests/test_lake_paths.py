"""Paths named by the lake catalog stay inside the lake: a crafted catalog touches nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from caretwin.errors import DataError
from caretwin.lake import SCHEMAS, Lake, LakeWriter


def _patients(*ids: str) -> pa.Table:
    rows = [{"patient_id": i, "gender": "other", "birth_date": None, "mrn": None} for i in ids]
    return pa.Table.from_pylist(rows, schema=SCHEMAS["patients"])


def _lake_with_patients(lake_dir: Path) -> None:
    with LakeWriter(lake_dir) as w:
        w.replace("patients", _patients("a"))
        w.commit("h1", None)


def _edit_catalog(lake_dir: Path, edit: object) -> None:
    path = lake_dir / "catalog.json"
    data = orjson.loads(path.read_bytes())
    assert callable(edit)
    edit(data)
    path.write_bytes(orjson.dumps(data))


@pytest.mark.parametrize(
    "crafted",
    [
        "../../victim.txt",
        "month=2025-01/../../../victim.txt",
        "/ABSOLUTE",  # replaced by the victim's absolute path below
        "",
        "a\\..\\..\\victim.txt",
    ],
)
def test_crafted_file_path_is_refused_and_nothing_outside_is_deleted(
    tmp_path: Path, crafted: str
) -> None:
    lake_dir = tmp_path / "ws" / "lake"
    victim = tmp_path / "ws" / "victim.txt"
    victim.parent.mkdir(parents=True)
    victim.write_text("not the lake's")
    _lake_with_patients(lake_dir)
    rel = str(victim) if crafted == "/ABSOLUTE" else crafted
    _edit_catalog(lake_dir, lambda d: d["tables"]["patients"]["files"].append(rel))

    with pytest.raises(DataError, match=r"outside the lake|unreadable"):
        with LakeWriter(lake_dir) as w:  # replacing patients would delete its listed files
            w.replace("patients", _patients("b"))
            w.commit("h2", None)
    with pytest.raises(DataError, match="outside the lake"):
        Lake(lake_dir).connect()
    assert victim.read_text() == "not the lake's"


def test_crafted_table_name_is_refused(tmp_path: Path) -> None:
    lake_dir = tmp_path / "ws" / "lake"
    _lake_with_patients(lake_dir)
    outside = tmp_path / "ws" / "precious"
    outside.mkdir()
    (outside / "keep.parquet").write_text("x")

    def add(d: dict[str, dict[str, object]]) -> None:
        d["tables"]["../../precious"] = {"files": [], "rows": 0}

    _edit_catalog(lake_dir, add)
    with pytest.raises(DataError, match="not a plain folder name"), LakeWriter(lake_dir):
        pass
    assert (outside / "keep.parquet").exists()


def test_linked_folders_leading_out_of_the_lake_are_not_followed(tmp_path: Path) -> None:
    lake_dir = tmp_path / "ws" / "lake"
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("victim.parquet", "stray.parquet", "linked.parquet"):
        (outside / name).write_text("x")
    _lake_with_patients(lake_dir)
    patients = lake_dir / "tables" / "patients"
    # a partition folder that is a link out of the lake, listed by the catalog
    _edit_catalog(
        lake_dir, lambda d: d["tables"]["patients"]["files"].append("month=1/victim.parquet")
    )
    # a whole table folder linked out: the next writer's sweep must not walk it
    (lake_dir / "tables" / "devices").symlink_to(outside, target_is_directory=True)
    # a stray link in a table folder: the sweep removes the link, not what it points to
    (patients / "stray").symlink_to(outside, target_is_directory=True)
    (patients / "linked.parquet").symlink_to(outside / "linked.parquet")

    with LakeWriter(lake_dir) as w:
        # made after the sweep, so only the commit's delete of superseded files meets it
        (patients / "month=1").symlink_to(outside, target_is_directory=True)
        w.replace("patients", _patients("b"))  # supersedes month=1/victim.parquet
        w.commit("h2", None)
    assert sorted(p.name for p in outside.iterdir()) == [
        "linked.parquet",
        "stray.parquet",
        "victim.parquet",
    ]
    assert not (patients / "stray").exists() and not (patients / "linked.parquet").exists()
    assert Lake(lake_dir).query("SELECT patient_id FROM patients").num_rows == 1
