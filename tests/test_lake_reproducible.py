"""The lake is byte-reproducible: the same inputs give the same bytes in every Parquet file."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from caretwin.ingest import ingest_paths
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.synth import generate

DATA = Path(__file__).parent / "data" / "fhir"
# the writer's file tag holds the time and a random part: it is taken out of the paths
_TAG = re.compile(r"part-\d{8}T\d{6}-[0-9a-f]{12}")


def _lake_files(lake: Path) -> dict[str, str]:
    out = {}
    for path in sorted(lake.rglob("*.parquet")):
        rel = _TAG.sub("part-TAG", path.relative_to(lake).as_posix())
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.mark.slow
def test_same_inputs_give_byte_identical_lakes(tmp_path: Path) -> None:
    data = tmp_path / "rh1"
    generate(load_definition(example_path(REFERENCE_HOSPITAL)), 14, 7, data)
    inputs = [data, DATA / "mixed.ndjson", DATA / "bundle_transaction.json", _months(tmp_path)]
    found = {}
    for name, workers in (("one", 1), ("again", 1), ("two", 2)):
        lake = tmp_path / name / "lake"
        ingest_paths(lake, inputs, views_root=lake.parent, workers=workers)
        found[name] = _lake_files(lake)
    first = found["one"]
    assert any("type=Patient/month=2024-03/" in rel for rel in first)  # raw layer compared too
    differ = {
        name: sorted(rel for rel in first if files.get(rel) != first[rel])
        for name, files in found.items()
        if files.keys() != first.keys() or files != first
    }
    assert differ == {}


def _months(tmp_path: Path) -> Path:
    """Patients updated over three months: their type's raw rows take the partitioned write."""
    path = tmp_path / "months.ndjson"
    lines = [
        json.dumps(
            {"resourceType": "Patient", "id": f"m{i}", "gender": "female",
             "meta": {"lastUpdated": f"2024-0{1 + i % 3}-{1 + i % 28:02d}T08:00:00Z"}}
        )
        for i in range(3000)
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path
