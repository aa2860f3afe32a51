"""Owner-only files: what a workspace writes holds patient data or secrets.

The lake (raw FHIR resources, quarantine excerpts), run folders, the SQLite metadata database and
a ``caretwin.yaml`` that spells out a database password are created readable by their owner only
(files ``0600``, folders ``0700``). Two mechanisms, both needed:

* explicit modes on what the workspace itself creates (``lake/``, ``runs/``, the database file,
  the config file), so they are private whatever the caller's umask;
* a ``077`` umask while a service operation runs (:func:`private_files`), for the many files
  that libraries create inside them (Parquet by Arrow and DuckDB, SQLite journals, reports,
  run manifests); worker processes inherit it.

A shared workspace (``caretwin init --shared --group G``) is readable by a service group instead:
its folders are ``2750`` (setgid, so what is created inside inherits the group) and its files
``0640``, and operations run under a ``027`` umask (:data:`SHARED_UMASK`).

The umask is process-wide: :func:`private_files` counts nested and concurrent holders and
restores the previous umask when the last one leaves, so two threads' operations cannot restore
it under each other. While an operation runs, files it writes outside the workspace (``--out``)
are owner-only too, which errs on the safe side.
"""

from __future__ import annotations

import grp
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "PRIVATE_UMASK",
    "SHARED_DIR",
    "SHARED_FILE",
    "SHARED_UMASK",
    "group_id",
    "holds_password",
    "make_private",
    "make_shared",
    "private_files",
]

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SHARED_UMASK = 0o027
SHARED_DIR = 0o2750
SHARED_FILE = 0o640

_lock = threading.Lock()
_holders = 0
_saved = 0


@contextmanager
def private_files(shared: bool = False) -> Iterator[None]:
    """Create files owner-only for the block (umask ``077``; nested and thread-safe).

    ``shared``: group-readable instead (umask ``027``), for a shared workspace. The first holder
    sets the umask; a nested holder keeps it (one process serves one workspace).
    """
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = os.umask(SHARED_UMASK if shared else PRIVATE_UMASK)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                os.umask(_saved)


def make_private(path: Path) -> None:
    """Give ``path`` (a file or folder that exists) owner-only permissions."""
    os.chmod(path, PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)


def group_id(name: str) -> int:
    """The gid of group ``name``; ``KeyError`` when the system has no such group."""
    return grp.getgrnam(name).gr_gid


def make_shared(path: Path, gid: int) -> None:
    """Give ``path`` to group ``gid``: folders ``2750`` (setgid), files ``0640``."""
    os.chown(path, -1, gid)
    os.chmod(path, SHARED_DIR if path.is_dir() else SHARED_FILE)


def holds_password(database_url: str | None) -> bool:
    """Whether a ``database_url`` as written in ``caretwin.yaml`` spells out a password.

    ``$VAR`` / ``${VAR}`` references are not secrets (expanded only when connecting), so
    ``postgresql://app:${PGPASSWORD}@db/caretwin`` is not one; ``app:s3cret@`` is.
    """
    if not database_url or "://" not in database_url:
        return False
    netloc = database_url.split("://", 1)[1].split("/", 1)[0]
    if "@" not in netloc:
        return False
    userinfo = netloc.rsplit("@", 1)[0]
    if ":" not in userinfo:
        return False
    password = userinfo.split(":", 1)[1]
    return bool(password) and not password.startswith("$")
