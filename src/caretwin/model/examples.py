"""Example twin definitions shipped with CareTwin (``caretwin examples``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from caretwin.errors import DefinitionError

_PACKAGE = "caretwin.model"


def example_names() -> list[str]:
    folder = resources.files(_PACKAGE).joinpath("examples_data")
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def example_text(name: str) -> str:
    if name not in example_names():
        raise DefinitionError(f"no example named '{name}' (known: {', '.join(example_names())})")
    return resources.files(_PACKAGE).joinpath("examples_data", f"{name}.yaml").read_text("utf-8")


def example_path(name: str) -> Path:
    """A filesystem path to a shipped example (package data is installed as real files)."""
    example_text(name)
    return Path(str(resources.files(_PACKAGE).joinpath("examples_data", f"{name}.yaml")))


REFERENCE_HOSPITAL = "reference-hospital"
# RH1 with ED nurse staffing by hour of week and planned CT maintenance
REFERENCE_HOSPITAL_STAFFED = "reference-hospital-staffed"
