"""Owner-only files: what a workspace writes holds patient data or secrets.

The lake (raw FHIR resources, quarantine excerpts), run folders, the SQLite metadata database and
a ``caretwin.yaml`` that spells out a database password are created readable by their owner only
(files ``0600``, folders ``0700``). Two mechanisms, both needed:

* explicit modes on what the workspace itself creates (``lake/``, ``runs/``, the database file,
  the config file), so they are private whatever the caller's umask;
* a ``077`` umask while a service operation runs (:func:`private_files`), for the many files
  that libraries create inside them (Parquet by Arrow and DuckDB, SQLite journals, reports,
  run manifests); worker processes inherit it.

The umask is process-wide: :func:`private_files` counts nested and concurrent holders and
restores the previous umask when the last one leaves, so two threads' operations cannot restore
it under each other. While an operation runs, files it writes outside the workspace (``--out``)
are owner-only too, which errs on the safe side. A later shared-workspace mode with a service
group will set :data:`PRIVATE_UMASK` to keep group access.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "PRIVATE_UMASK",
    "holds_password",
    "make_private",
    "private_files",
]

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

_lock = threading.Lock()
_holders = 0
_saved = 0


@contextmanager
def private_files() -> Iterator[None]:
    """Create files owner-only for the block (umask ``077``; nested and thread-safe)."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = os.umask(PRIVATE_UMASK)
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
