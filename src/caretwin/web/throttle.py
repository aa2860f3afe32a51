"""Sign-in throttling: after repeated failures, a user name or a client address waits.

Kept in the server's memory (per process): it slows online guessing; the account lockout of
:mod:`caretwin.services.identity`, in the database, is what stops it. A key (``user:NAME`` or
``addr:IP``) with ``after`` failures within ``window`` seconds is refused for ``window`` seconds
since its latest failure (the page answers 429 with ``Retry-After``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

__all__ = ["SignInThrottle"]


class SignInThrottle:
    def __init__(
        self, after: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.after = after
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def wait_seconds(self, keys: Iterable[str]) -> float:
        """How long the sign-in must wait (0: go ahead)."""
        now = self.clock()
        with self._lock:
            waits = []
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.after:
                    waits.append(self.window - (now - times[-1]))
            return max([0.0, *waits])

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
            if len(self._failures) > 10_000:  # a flood of names: forget the quiet ones
                for key in [k for k, v in self._failures.items() if not self._recent(k, now)]:
                    del self._failures[key]

    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._failures.pop(user_key, None)
