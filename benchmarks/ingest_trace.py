"""How many ingestion modules one input file visits, and how often control returns to them.

    python benchmarks/ingest_trace.py [--depth 2] FILE [FILE ...]

Ingests each file alone into a fresh lake (parsing in this process, ``workers=1``; a first
ingest of it, untraced, has imported every module) under ``sys.setprofile`` and records the
module of every Python function called in ``caretwin.ingest`` and ``caretwin.hl7v2`` and the
module it was called from. Prints per file: the distinct modules visited; the distinct
cross-module call edges (``a -> b``: code in ``a`` called into ``b``; loops over records count
once); and the edges that go back, into a module that had called the caller, directly or not
(control returning to a module it left); and the path at the pipeline's level: the modules
entered with at most two ingestion modules above the call, in order (a loop inside one
module's callees is not seen; ``--depth`` sets the two), with how many times it re-enters a
module it left.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

PREFIXES = ("caretwin.ingest", "caretwin.hl7v2")


def trace(path: Path, depth: int) -> tuple[dict[tuple[str, str], bool], list[str]]:
    from caretwin.ingest import ingest_paths

    edges: dict[tuple[str, str], bool] = {}
    path_seq: list[str] = []

    def prof(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        mod = frame.f_globals.get("__name__", "")
        if not mod.startswith(PREFIXES):
            return
        # the chain of ingestion modules above this call, nearest first
        chain: list[str] = []
        up = frame.f_back
        while up is not None:
            name = up.f_globals.get("__name__", "")
            if name.startswith(PREFIXES) and (not chain or chain[-1] != name):
                chain.append(name)
            up = up.f_back
        if len(chain) <= depth and (not path_seq or path_seq[-1] != mod):
            path_seq.append(mod)
        if chain and chain[0] != mod:
            back = mod in chain[1:]
            edges[(chain[0], mod)] = edges.get((chain[0], mod), False) or back

    with tempfile.TemporaryDirectory() as tmp:
        ingest_paths(Path(tmp) / "warm", [path], views_root=Path(tmp), workers=1)
        lake = Path(tmp) / "lake"
        sys.setprofile(prof)
        try:
            ingest_paths(lake, [path], views_root=Path(tmp), workers=1)
        finally:
            sys.setprofile(None)
    return edges, path_seq


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()
    for name in args.files:
        edges, seq = trace(name, args.depth)
        mods = {m for edge in edges for m in edge}
        back = sorted(e for e, b in edges.items() if b)
        print(f"{Path(name).name}: {len(mods)} modules, {len(edges)} call edges, "
              f"{len(back)} back into a caller")  # fmt: skip
        short = [f"{a.removeprefix('caretwin.')}->{b.removeprefix('caretwin.')}" for a, b in back]
        print("    back:", ", ".join(short))
        distinct = set(seq)
        print(f"    pipeline path: {len(distinct)} modules, {len(seq) - len(distinct)} re-entries")
        print("     ", " > ".join(m.removeprefix("caretwin.") for m in seq))


if __name__ == "__main__":
    main()
