"""Where the read-only ``../shared`` material is, and what to do when it is absent.

Tests never copy it into the project. Where it is missing they skip, saying why; CI sets
``CARETWIN_REQUIRE_SHARED=1`` and then a missing ``../shared`` fails instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("CARETWIN_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def shared_path(*parts: str) -> Path:
    """``../shared/<parts>``, or skip (fail under ``CARETWIN_REQUIRE_SHARED=1``) if absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"{path} not found (../shared is absent on this machine)"
        if os.environ.get("CARETWIN_REQUIRE_SHARED") == "1":
            pytest.fail(f"CARETWIN_REQUIRE_SHARED=1 but {reason}")
        pytest.skip(reason)
    return path
