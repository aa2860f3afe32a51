"""Fault injection for crash-consistency tests: kill this process at a named point.

``CARETWIN_FAULT=<point>`` makes :func:`fault_point` ``SIGKILL`` the process when it reaches
``<point>`` — no cleanup, no ``finally``, exactly what the OOM killer or a power cut does. Only
tests set the variable; unset, a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["FAULT_ENV", "fault_point"]

FAULT_ENV = "CARETWIN_FAULT"


def fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
