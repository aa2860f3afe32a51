"""Writing a rendered page: atomically, readable by others, errors in CareTwin's terms.

Every HTML artefact (simulation, experiment, quality and forecast reports) goes through
:func:`write_document`, so a crash mid-write never leaves half a report where a reviewer will
open it. A report is shareable (``0644``) unless it lands in an owner-only folder such as a run
folder of a workspace, where it stays owner-only (``0600``) like everything beside it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from caretwin.errors import CareTwinError


def write_document(document: str, path: Path) -> Path:
    """Write ``document`` to ``path`` via a temporary file and a rename; parents are created."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(document)
            private = stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
            os.chmod(tmp, 0o600 if private else 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CareTwinError(
            f"cannot write the report to {path}: {exc.strerror or exc}",
            details={"path": str(path)},
        ) from exc
    return path
