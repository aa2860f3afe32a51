"""Worker processes that die with their parent.

A killed parent (SIGKILL, the OOM killer) runs no cleanup, and a ``concurrent.futures`` worker
waiting on its task queue never notices: the queue's pipe stays open because every worker holds
both of its ends. Workers of an ingest (a few hundred MB each) or of a replication pool would
then run on under init for ever, and with them multiprocessing's resource tracker. Give a pool
``initializer=die_with_parent, initargs=(os.getpid(),)``: on Linux the worker asks the kernel for
``SIGKILL`` when its parent dies (``PR_SET_PDEATHSIG``); everywhere a watchdog thread exits the
worker when its parent process changes. The resource tracker exits by itself once every holder
of its pipe (the parent and the workers) is gone.

``PR_SET_PDEATHSIG`` fires when the *thread* that started the worker ends; pools here start
their workers from the thread that submits work, which outlives the pool.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["WATCH_SECONDS", "die_with_parent"]

#: prctl(2) option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1
#: How often a worker's watchdog looks for its parent (the fallback where PDEATHSIG is missing).
WATCH_SECONDS = 0.5


def die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker process when ``parent`` dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the watchdog still works
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # orphaned: nobody will read our results
