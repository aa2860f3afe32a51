"""The reference hospital cut short, for tests that need a real model that simulates quickly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from caretwin.model import REFERENCE_HOSPITAL, example_text


def short_reference_model(path: Path, **run: float) -> Path:
    """Write the shipped reference hospital to ``path`` with its ``run`` settings overridden."""
    data: dict[str, Any] = yaml.safe_load(example_text(REFERENCE_HOSPITAL))
    data["run"].update(run)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
