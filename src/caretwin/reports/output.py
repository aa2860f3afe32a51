"""Writing a rendered page: atomically, readable by others, errors in CareTwin's terms.

Every HTML artefact (simulation, experiment, quality and forecast reports) goes through
:func:`write_document`, so a crash mid-write never leaves half a report where a reviewer will
open it, and every report is shareable (``mkstemp`` creates files readable by the owner only).
"""

from __future__ import annotations

import os
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
            os.chmod(tmp, 0o644)
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
