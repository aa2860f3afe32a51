"""Recognising a full disk behind whatever library met it, and saying so in CareTwin's terms.

A full disk reaches CareTwin as many foreign errors: ``OSError`` ``ENOSPC``/``EDQUOT`` from Python
and Arrow (also when raised in a worker process), a DuckDB ``IOException`` whose message ends in
"No space left on device", SQLite's ``SQLITE_FULL`` ("database or disk is full") under
SQLAlchemy, each possibly wrapped in a :class:`~caretwin.errors.CareTwinError` on the way up.
:func:`is_disk_full` looks along the whole cause chain; the service layer
(:meth:`caretwin.services.context.ServiceContext.operation`) turns such a failure into one
:class:`~caretwin.errors.DiskFull` with a clear message. Each writer undoes its own partial work
first (the lake's staging folder, a run's folder and record), so the workspace is as it was.
"""

from __future__ import annotations

import errno
from pathlib import Path

from caretwin.errors import DiskFull

__all__ = ["disk_full_error", "is_disk_full"]

_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13
_MESSAGES = ("no space left on device", "disk quota exceeded", "database or disk is full")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` or anything in its cause chain says the disk or quota is full."""
    for e in _chain(exc):
        if isinstance(e, DiskFull):
            return True
        if isinstance(e, OSError) and e.errno in _ERRNOS:
            return True
        if getattr(e, "sqlite_errorcode", None) == _SQLITE_FULL:
            return True
        text = str(e).lower()
        if any(m in text for m in _MESSAGES):
            return True
    return False


def disk_full_error(exc: BaseException, root: Path, action: str) -> DiskFull:
    """The :class:`DiskFull` to raise for ``exc`` (itself when it already is one)."""
    if isinstance(exc, DiskFull):
        return exc
    return DiskFull(
        f"no space left on the disk holding the workspace {root}: {action} stopped and its "
        "partial output was removed. Free some space and run it again.",
        details={"workspace": str(root), "action": action},
    )
