"""Reproducing a run and checking that its KPIs come out identical.

Reproducibility is CareTwin's answer to "can we trust this number?": the same model (content
hash), data, seed, scenarios and parameters must give bit-identical KPIs. Each run kind that can
be re-run registers a *reproducer* — a function that re-executes a run from its manifest and
returns the new ``outputs`` — with :func:`register_reproducer`, at import time of its
``caretwin.services.<area>`` module. :func:`reproduce` imports those modules itself, so it works
whichever command loaded first.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from caretwin.access import Permission, require
from caretwin.errors import CareTwinError, PluginMismatch, StoreError
from caretwin.runs.manifest import Manifest
from caretwin.runs.recorder import RunRecorder, get_run, to_jsonable

if TYPE_CHECKING:
    from caretwin.services.context import ServiceContext

__all__ = [
    "ReproResult",
    "Reproducer",
    "compare_outputs",
    "register_reproducer",
    "registered_kinds",
    "reproduce",
    "unregister_reproducer",
]

Reproducer = Callable[["ServiceContext", Manifest], dict[str, Any]]

_REGISTRY: dict[str, tuple[Reproducer, Permission]] = {}
_MISSING = "<missing>"


@dataclass(frozen=True)
class ReproResult:
    original_run_id: str
    new_run_id: str
    identical: bool
    differences: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "original_run_id": self.original_run_id,
            "new_run_id": self.new_run_id,
            "identical": self.identical,
            "differences": self.differences,
        }


def register_reproducer(
    kind: str, fn: Reproducer, *, permission: Permission = Permission.SIMULATE
) -> None:
    """Register how to re-run runs of ``kind``; ``permission`` is what re-running requires.

    Re-registering a kind replaces the previous function (so module reloads are harmless).
    """
    _REGISTRY[kind] = (fn, permission)


def unregister_reproducer(kind: str) -> None:
    """Forget the reproducer of ``kind`` (for tests and plug-in reloads)."""
    _REGISTRY.pop(kind, None)


def registered_kinds() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def _discover() -> None:
    """Import every ``caretwin.services.*`` module so their registrations have run."""
    import caretwin.services as services

    for info in pkgutil.iter_modules(services.__path__, services.__name__ + "."):
        importlib.import_module(info.name)


def compare_outputs(original: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Exact differences between the ``kpis`` of two outputs (whole outputs if no KPIs).

    Both sides go through the same JSON normalisation the manifest uses, so a float that
    survived storage compares equal to the freshly computed one only if it is the same float.
    Returns ``{dotted.path: {"original": a, "reproduced": b}}``; empty means identical.
    """
    key_present = "kpis" in original or "kpis" in new
    a = to_jsonable(original.get("kpis", {}) if key_present else original)
    b = to_jsonable(new.get("kpis", {}) if key_present else new)
    diffs: dict[str, Any] = {}
    _diff(a, b, "kpis" if key_present else "", diffs)
    return diffs


def _diff(a: Any, b: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            _diff(a.get(key, _MISSING), b.get(key, _MISSING), sub, out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out)
        return
    # type() check too: JSON 1 and 1.0 are different results.
    if a != b or type(a) is not type(b):
        out[path or "<root>"] = {"original": a, "reproduced": b}


def _check_plugins(original: Manifest) -> None:
    """Refuse before any work when the run's plugins are not installed as they were: another
    version of a plugin's engine or KPI may give other numbers for reasons no diff explains."""
    from caretwin.plugins.manager import mismatches

    problems = mismatches(original.plugins)
    if problems:
        raise PluginMismatch(
            f"run {original.run_id} cannot be reproduced here: {'; '.join(problems)} "
            "(install the recorded versions to reproduce it)",
            details={"run_id": original.run_id, "plugins": original.plugins},
        )


def reproduce(ctx: ServiceContext, run_id: str) -> ReproResult:
    """Re-run ``run_id`` as a new run of the same kind and compare KPIs exactly."""
    with ctx.operation("runs.reproduce", Permission.RUNS_READ, run_id) as op:
        original = get_run(ctx.workspace, run_id)
        op.details["kind"] = original.kind
        if original.status != "succeeded":
            raise StoreError(
                f"run {run_id} is {original.status}; only succeeded runs can be reproduced",
                details={"run_id": run_id, "status": original.status},
            )
        _discover()
        if original.kind not in _REGISTRY:
            raise CareTwinError(
                f"runs of kind {original.kind!r} cannot be reproduced "
                f"(reproducible kinds: {', '.join(sorted(_REGISTRY)) or 'none'})",
                details={"kind": original.kind},
            )
        fn, permission = _REGISTRY[original.kind]
        require(ctx.actor, permission)
        _check_plugins(original)
        with RunRecorder.start(
            ctx,
            original.kind,
            original.model_name,
            original.model_hash,
            scenarios=original.scenarios,
            seed=original.seed,
            replications=original.replications,
            parameters=original.parameters,
            data_snapshot_hash=original.data_snapshot_hash,
            reproduces=original.run_id,
        ) as recorder:
            op.details["new_run_id"] = recorder.run_id
            with recorder.timer("reproduce"):
                outputs = fn(ctx, original)
            recorder.finish(outputs)
        differences = compare_outputs(original.outputs, outputs)
        op.details["identical"] = not differences
        op.details["n_differences"] = len(differences)
        return ReproResult(
            original_run_id=original.run_id,
            new_run_id=recorder.run_id,
            identical=not differences,
            differences=differences,
        )
