"""Regenerate the golden files: ``python tests/golden/regenerate.py``.

Run it only when a change is *meant* to alter simulation or generator outputs, and say so in the
commit message; the golden tests exist to catch the changes that were not meant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from test_golden import CASES, run_case, synth_digest  # noqa: E402 - importable only after the sys.path line above


def main() -> None:
    for name in CASES:
        out = HERE / f"{name}.expected.json"
        out.write_bytes(orjson.dumps(run_case(name), option=orjson.OPT_INDENT_2) + b"\n")
        print("wrote", out)
    out = HERE / "synth-rh1-7days.expected.json"
    out.write_bytes(orjson.dumps(synth_digest(), option=orjson.OPT_INDENT_2) + b"\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
