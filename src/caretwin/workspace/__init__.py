"""A CareTwin workspace: config file, metadata database, lake and run folders in one place."""

from __future__ import annotations

from caretwin.workspace.config import CONFIG_FILE, WorkspaceConfig
from caretwin.workspace.workspace import DB_FILE, Workspace, default_workspace_path

__all__ = ["CONFIG_FILE", "DB_FILE", "Workspace", "WorkspaceConfig", "default_workspace_path"]
