"""Recording runs: a run folder with ``manifest.json`` plus a ``runs`` row in the database.

The folder is the portable artefact (reports, model copy, outputs live beside the manifest); the
database row makes runs listable and queryable without scanning folders. Both are written from
one :class:`Manifest` so they cannot disagree.

The run record sits below the workspace (which closes killed runs when it opens) and the
service layer (whose context starts runs), so it names what it needs of them as protocols:
:class:`RunsHome` (a workspace) and :class:`RunContext` (a service context).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import orjson
import pydantic
from sqlalchemy import and_, or_, select

from caretwin.access import Actor
from caretwin.diskfull import is_disk_full
from caretwin.errors import Cancelled, RunNotFound, StoreError
from caretwin.faults import fault_point
from caretwin.runs.manifest import MANIFEST_FILE, Manifest, environment, new_run_id
from caretwin.store.models import Run, utcnow
from caretwin.store.session import SessionSource

__all__ = [
    "RunContext",
    "RunRecorder",
    "RunSummary",
    "RunsHome",
    "get_run",
    "list_runs",
    "run_dir",
    "to_jsonable",
]

log = logging.getLogger(__name__)


class RunsHome(SessionSource, Protocol):
    """Where runs live: the metadata database and the run folders (a workspace)."""

    @property
    def runs_dir(self) -> Path: ...


class RunContext(Protocol):
    """Who starts a run, and in which workspace (a service context)."""

    @property
    def workspace(self) -> RunsHome: ...

    @property
    def actor(self) -> Actor: ...


def to_jsonable(value: Any) -> Any:
    """Plain JSON values (numpy scalars, paths, datetimes converted), as stored and compared."""
    return orjson.loads(
        orjson.dumps(
            value, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        )
    )


class RunRecorder:
    """A run in progress. Start with :meth:`start`; end with :meth:`finish` or :meth:`fail`.

    Usable as a context manager: leaving the block with an exception calls :meth:`fail`
    (if the run was not finished yet) and lets the exception propagate.
    """

    def __init__(self, workspace: RunsHome, manifest: Manifest) -> None:
        self.workspace = workspace
        self.manifest = manifest
        self.run_dir = run_dir(workspace, manifest.run_id)
        self.timings: dict[str, float] = manifest.timings
        self._started = time.perf_counter()

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def done(self) -> bool:
        return self.manifest.status != "running"

    @classmethod
    def start(
        cls,
        ctx: RunContext,
        kind: str,
        model_name: str | None = None,
        model_hash: str | None = None,
        *,
        scenarios: Sequence[str] = (),
        seed: int | None = None,
        replications: int | None = None,
        parameters: dict[str, Any] | None = None,
        data_snapshot_hash: str | None = None,
        run_id: str | None = None,
        reproduces: str | None = None,
    ) -> RunRecorder:
        """Create the run folder and a ``running`` row; the manifest is written at the end."""
        manifest = Manifest(
            run_id=run_id or new_run_id(kind),
            kind=kind,
            created_at=utcnow(),
            actor=ctx.actor.name,
            model_name=model_name,
            model_hash=model_hash,
            data_snapshot_hash=data_snapshot_hash,
            seed=seed,
            replications=replications,
            scenarios=list(scenarios),
            parameters=to_jsonable(parameters or {}),
            reproduces=reproduces,
            **environment(),
        )
        recorder = cls(ctx.workspace, manifest)
        try:
            recorder.run_dir.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise StoreError(f"run folder {recorder.run_dir} already exists") from None
        with _removing(recorder.run_dir), ctx.workspace.session() as session:
            session.add(
                Run(
                    run_id=manifest.run_id,
                    kind=kind,
                    status=manifest.status,
                    created_at=manifest.created_at,
                    actor=ctx.actor.name,
                    model_name=model_name,
                    model_hash=model_hash,
                    scenario=",".join(manifest.scenarios) or None,
                    seed=seed,
                    replications=replications,
                    manifest=manifest.model_dump(mode="json"),
                )
            )
        fault_point("run.after_start")  # tests: a kill here is closed on next open
        return recorder

    @contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Add the wall-clock seconds of the block to ``timings[name]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def finish(self, outputs: dict[str, Any], report_path: Path | str | None = None) -> Manifest:
        """Mark the run succeeded: write ``manifest.json`` and update the database row."""
        self.manifest.outputs = to_jsonable(outputs)
        self.manifest.report_path = str(report_path) if report_path is not None else None
        return self._close("succeeded")

    def fail(self, exc: BaseException) -> Manifest:
        """Mark the run failed, keeping the error's class and message in the manifest."""
        self.manifest.error = {"type": exc.__class__.__name__, "message": str(exc)[:2000]}
        return self._close("failed")

    def _close(self, status: str) -> Manifest:
        if self.done:
            raise StoreError(f"run {self.run_id} is already {self.manifest.status}")
        self.timings.setdefault("total", time.perf_counter() - self._started)
        self.manifest.status = status
        self.manifest.finished_at = utcnow()
        data = self.manifest.model_dump(mode="json")
        _write_atomic(self.run_dir / MANIFEST_FILE, orjson.dumps(data, option=orjson.OPT_INDENT_2))
        with self.workspace.session() as session:
            row = session.get(Run, self.run_id)
            if row is None:
                raise RunNotFound(f"run {self.run_id} vanished from the database")
            row.status = status
            row.finished_at = self.manifest.finished_at
            row.manifest = data
            row.report_path = self.manifest.report_path
        return self.manifest

    def __enter__(self) -> RunRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or self.done:
            return
        # A cancelled job leaves no half run behind, like a run the disk had no room for.
        if is_disk_full(exc) or isinstance(exc, Cancelled):
            self.discard()
            return
        try:
            self.fail(exc)
        except Exception as failed:
            if not is_disk_full(failed):
                raise
            self.discard()  # no room even for the failure's manifest

    def discard(self) -> None:
        """Remove the run's folder and record: a run the disk had no room for never happened.

        The audit trail keeps the attempt (its ``error`` event names the run id); the folder
        goes first, so deleting the record has the space it needs.
        """
        shutil.rmtree(self.run_dir, ignore_errors=True)
        try:
            with self.workspace.session() as session:
                row = session.get(Run, self.run_id)
                if row is not None:
                    session.delete(row)
        except StoreError as exc:
            log.warning("could not remove the record of discarded run %s: %s", self.run_id, exc)
        self.manifest.status = "discarded"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _removing(folder: Path) -> Iterator[None]:
    """Remove ``folder`` if the block fails (a run whose record could not be written)."""
    try:
        yield
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


@dataclass(frozen=True)
class RunSummary:
    """A row of ``caretwin runs list``."""

    run_id: str
    kind: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    actor: str
    model_name: str | None
    model_hash: str | None
    scenario: str | None
    seed: int | None
    replications: int | None
    report_path: str | None

    @classmethod
    def from_row(cls, row: Run) -> RunSummary:
        return cls(
            run_id=row.run_id,
            kind=row.kind,
            status=row.status,
            created_at=row.created_at,
            finished_at=row.finished_at,
            actor=row.actor,
            model_name=row.model_name,
            model_hash=row.model_hash,
            scenario=row.scenario,
            seed=row.seed,
            replications=row.replications,
            report_path=row.report_path,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.__dict__)
        out["created_at"] = self.created_at.isoformat()
        out["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return out


def list_runs(
    ws: RunsHome, kind: str | None = None, limit: int | None = None, after: str | None = None
) -> list[RunSummary]:
    """Runs, newest first; ``after`` a run id: only the runs listed after it (a page's cursor).

    An ``after`` run that no longer exists raises :class:`RunNotFound`.
    """
    stmt = select(Run).order_by(Run.created_at.desc(), Run.run_id.desc())
    if kind is not None:
        stmt = stmt.where(Run.kind == kind)
    if limit is not None:
        stmt = stmt.limit(limit)
    with ws.session() as session:
        if after is not None:
            mark = session.get(Run, after)
            if mark is None:
                raise RunNotFound(f"no run {after} in this workspace", details={"run_id": after})
            stmt = stmt.where(
                or_(
                    Run.created_at < mark.created_at,
                    and_(Run.created_at == mark.created_at, Run.run_id < mark.run_id),
                )
            )
        return [RunSummary.from_row(row) for row in session.scalars(stmt)]


def run_dir(ws: RunsHome, run_id: str) -> Path:
    """Where a run's artefacts live (a reproducer finds the saved model copy here)."""
    return ws.runs_dir / run_id


def get_run(ws: RunsHome, run_id: str) -> Manifest:
    """The manifest of ``run_id``; :class:`RunNotFound` if there is no such run."""
    with ws.session() as session:
        row = session.get(Run, run_id)
        data = dict(row.manifest) if row is not None else None
    if data is None:
        raise RunNotFound(f"no run {run_id} in this workspace", details={"run_id": run_id})
    try:
        return Manifest.model_validate(data)
    except pydantic.ValidationError as exc:
        raise StoreError(f"run {run_id} has an unreadable manifest: {exc}") from exc
