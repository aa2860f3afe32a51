"""What the store's record functions need from whoever holds the database: a unit of work.

:class:`~caretwin.workspace.Workspace` provides it, but the store sits below the workspace (the
workspace opens, migrates and repairs the database), so record functions and the audit log take
this protocol instead of importing the workspace: anything with a ``session()`` will do.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from sqlalchemy.orm import Session

__all__ = ["SessionSource"]


class SessionSource(Protocol):
    def session(self) -> AbstractContextManager[Session]:
        """A unit of work: commits when the block succeeds, rolls back when it raises."""
        ...
