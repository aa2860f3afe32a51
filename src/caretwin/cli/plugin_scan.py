"""A cheap look for third-party plugins, for ``caretwin --help`` (here, not in
:mod:`caretwin.plugins`, whose package imports pluggy).

Importing :mod:`importlib.metadata` alone costs about 20 ms of CPU, more than the rest of the
root group's help. ``--help`` only needs to know whether any distribution other than CareTwin
declares the ``caretwin`` entry-point group; this scans the ``*.dist-info`` / ``*.egg-info``
folders on ``sys.path`` for it without that import. Discovery proper (names, versions, loading)
is :mod:`caretwin.plugins.manager`, through :mod:`importlib.metadata`.
"""

from __future__ import annotations

import functools
import os
import sys

__all__ = ["third_party_installed"]

_SECTION = "[caretwin]"


def _declares(folder: str) -> bool:
    try:
        with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as fh:
            return any(line.strip() == _SECTION for line in fh)
    except OSError:
        return False


@functools.cache
def third_party_installed() -> bool:
    """Whether a distribution other than ``caretwin`` has entry points in the group."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            # The distribution's name: "caretwin-0.1.0.dist-info", but also the editable
            # build's "caretwin.egg-info" (no version), which setuptools leaves in src/.
            dist = name.rsplit(".", 1)[0].split("-", 1)[0].replace("_", "-").lower()
            if dist == "caretwin":
                continue  # CareTwin's own entry points (the built-in plugins)
            if _declares(os.path.join(entry or ".", name)):
                return True
    return False
