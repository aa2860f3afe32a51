"""Which processes are working on a workspace, so recovery never mistakes one for a crash.

Every service operation holds a *shared* ``flock`` on ``<workspace>/.operations.lock`` for its
whole length (lake commit, metadata record and audit event included). Recovery when a workspace
is opened (:mod:`caretwin.workspace.recover`) asks for the *exclusive* lock without waiting: it
gets it only when no operation is running anywhere on the machine, so a snapshot another process
has just committed but not yet recorded is never taken for the leftover of a killed one. A killed
process's lock goes with it (the kernel releases ``flock`` locks of closed descriptors).

Where ``flock`` is missing (Windows) or the file cannot be opened (a read-only workspace), both
helpers fall back to "no lock": operations run, and recovery runs as if idle.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

try:  # pragma: no cover - platform dependent
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock
    fcntl = None  # type: ignore[assignment]  # flock is POSIX-only; the lock is best effort

__all__ = ["LOCK_FILE", "operation_lock", "when_idle"]

LOCK_FILE = ".operations.lock"


def _open(root: Path) -> IO[Any] | None:
    if fcntl is None:
        return None
    try:
        return open(root / LOCK_FILE, "a+b")
    except OSError:
        return None


@contextmanager
def operation_lock(root: Path) -> Iterator[None]:
    """Hold the workspace's operation lock shared for the block (waits only for a recovery)."""
    fh = _open(root)
    if fh is None:
        yield
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        yield
    finally:
        fh.close()  # releases the lock


@contextmanager
def when_idle(root: Path) -> Iterator[bool]:
    """``True`` (lock held exclusively) if no operation runs, else ``False`` at once."""
    fh = _open(root)
    if fh is None:
        yield True
        return
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: an operation holds it
            idle = False
        else:
            idle = True
        yield idle
    finally:
        fh.close()
