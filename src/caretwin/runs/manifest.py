"""The run manifest: everything needed to explain and re-run a run.

A manifest pins the model (name and content hash), the data (snapshot hash), the randomness
(seed, replications), the scenarios, the command parameters and the software (CareTwin version,
git commit, key package versions, Python). Two runs with equal manifests except for ids and
timings must produce identical KPIs; :mod:`caretwin.services.reproduce` checks exactly that.
"""

from __future__ import annotations

import functools
import platform
import secrets
import subprocess
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pydantic

from caretwin.store.models import utcnow
from caretwin.version import __version__

__all__ = [
    "MANIFEST_FILE",
    "TRACKED_PACKAGES",
    "Manifest",
    "git_commit",
    "new_run_id",
    "package_versions",
]

MANIFEST_FILE = "manifest.json"
TRACKED_PACKAGES = ("numpy", "scipy", "pydantic", "duckdb", "pyarrow", "sqlalchemy")

_KIND_PREFIX = {"simulate": "sim", "calibrate": "cal"}


class Manifest(pydantic.BaseModel):
    """What ``<run_dir>/manifest.json`` and the ``runs.manifest`` column hold."""

    model_config = pydantic.ConfigDict(extra="allow")

    run_id: str
    kind: str
    status: str = "running"
    created_at: datetime
    finished_at: datetime | None = None
    actor: str | None = None
    caretwin_version: str
    git_commit: str | None = None
    model_name: str | None = None
    model_hash: str | None = None
    data_snapshot_hash: str | None = None
    seed: int | None = None
    replications: int | None = None
    scenarios: list[str] = pydantic.Field(default_factory=list)
    python_version: str
    packages: dict[str, str] = pydantic.Field(default_factory=dict)
    timings: dict[str, float] = pydantic.Field(default_factory=dict)
    parameters: dict[str, Any] = pydantic.Field(default_factory=dict)
    outputs: dict[str, Any] = pydantic.Field(default_factory=dict)
    report_path: str | None = None
    error: dict[str, str] | None = None
    reproduces: str | None = None
    # third-party plugins the run used: [{name, distribution, version}]; reproduce refuses
    # when one is missing or at another version (caretwin.services.reproduce)
    plugins: list[dict[str, str]] = pydantic.Field(default_factory=list)


def new_run_id(kind: str) -> str:
    """A run id that sorts by creation time within a kind: ``sim-20261129T183512-ab12cd``."""
    prefix = _KIND_PREFIX.get(kind, kind)
    prefix = "".join(c if c.isalnum() else "-" for c in prefix.lower()).strip("-") or "run"
    return f"{prefix}-{utcnow().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


@functools.cache
def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the CareTwin source checkout, or ``None`` when installed.

    Only a checkout that contains the imported ``caretwin`` package counts: a wheel installed
    into a virtualenv that happens to sit inside some other git repository must not report that
    repository's commit.
    """
    package_dir = Path(__file__).resolve().parent.parent  # the caretwin package
    if "site-packages" in package_dir.parts:
        return None
    try:
        top = _git(package_dir, "rev-parse", "--show-toplevel")
        head = _git(package_dir, "rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    if not top or not head or not package_dir.is_relative_to(Path(top).resolve()):
        return None
    return head


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


@functools.cache
def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour can change a run's numbers or its data."""
    versions: dict[str, str] = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment() -> dict[str, Any]:
    """The software fields of a manifest, captured once per process."""
    return {
        "caretwin_version": __version__,
        "git_commit": git_commit(),
        "python_version": platform.python_version(),
        "packages": dict(package_versions()),
    }
