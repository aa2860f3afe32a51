"""Byte identity of the lake two versions of CareTwin write from the same input.

    python benchmarks/ingest_identity.py OLD_SRC NEW_SRC [--days 60] [--keep DIR]

Generates RH1 data (``caretwin synth``, seed 7) once, then with each ``src`` folder (e.g. a
``git archive`` of main before a refactor, and the working tree's ``src``) ingests into a fresh
lake, in a child process: the RH1 files, the Synthea sample and the HL7 v2 samples from
../shared in one ingest, then the HL7 samples again (all duplicates) and the Synthea sample
again (no change). It prints, per lake, the number of files compared and every difference:
each Parquet file of the tables and of the raw layer is compared byte for byte (the writer's
random file tag is taken out of the paths; the catalog is left out: it holds times).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
_TAG = re.compile(r"part-\d{8}T\d{6}-[0-9a-f]{12}")

_INGEST = """
import sys, json
from pathlib import Path
from caretwin.ingest import ingest_paths
lake = Path(sys.argv[1])
for group in json.loads(sys.argv[2]):
    r = ingest_paths(lake, [Path(p) for p in group], views_root=lake.parent, workers=1)
    print(r.snapshot_id, r.data_hash, r.no_change, r.records, r.quarantined, flush=True)
"""


def lake_files(lake: Path) -> dict[str, str]:
    out = {}
    for path in sorted(lake.rglob("*.parquet")):
        rel = _TAG.sub("part-TAG", path.relative_to(lake).as_posix())
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old_src", type=Path)
    ap.add_argument("new_src", type=Path)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        data = root / "rh1"
        if not (data / "synth-manifest.json").exists():
            code = (
                "import sys; from pathlib import Path; from caretwin.synth import generate; "
                "from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition; "
                f"generate(load_definition(example_path(REFERENCE_HOSPITAL)), {args.days}, 7, "
                f"Path({str(data)!r}))"
            )
            env = {"PYTHONPATH": str(args.new_src), "PATH": "/usr/bin:/bin"}
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
        hl7 = SHARED / "hl7v2-adt"
        synthea = SHARED / "synthea-10-patients"
        groups = [[str(data), str(synthea), str(hl7)], [str(hl7)], [str(synthea)]]
        found = {}
        runs = (("old", args.old_src), ("old-again", args.old_src), ("new", args.new_src))
        for name, src in runs:
            lake = root / name / "lake"
            lake.parent.mkdir(parents=True, exist_ok=True)
            env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}
            import json

            out = subprocess.run(
                [sys.executable, "-c", _INGEST, str(lake), json.dumps(groups)],
                check=True, env=env, capture_output=True, text=True,
            ).stdout  # fmt: skip
            print(f"{name}: {src}\n{out}", end="")
            found[name] = lake_files(lake)
        for a, b in (("old", "old-again"), ("old", "new")):
            compare(root, a, b, found[a], found[b])


def compare(root: Path, a: str, b: str, old: dict[str, str], new: dict[str, str]) -> None:
    """Byte differences; for each, whether the rows are the same in ``seq`` order (DuckDB
    writes the raw rows with ``preserve_insertion_order = false``: their order within a file
    is not reproducible from one run to the next, whatever the code)."""
    import pyarrow.parquet as pq

    diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    print(f"{a} vs {b}: files {len(old)} / {len(new)}; byte-identical {len(old) - len(diff)}")
    for k in diff:
        if k not in old or k not in new:
            print("  MISSING", k)
            continue
        ta = pq.read_table(next((root / a / "lake").glob(k.replace("part-TAG", "part-*"))))
        tb = pq.read_table(next((root / b / "lake").glob(k.replace("part-TAG", "part-*"))))
        same = "seq" in ta.column_names and ta.sort_by("seq").equals(tb.sort_by("seq"))
        print("  bytes differ:", k, "- same rows in seq order" if same else "- ROWS DIFFER")


if __name__ == "__main__":
    main()
