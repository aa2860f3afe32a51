"""Identity benchmark: what a sign-in and a token check cost, with the library default as baseline.

    python benchmarks/identity_bench.py          # 20 of each (a few seconds)
    python benchmarks/identity_bench.py -n 50

In one process, on a fresh SQLite workspace: argon2id hash and verify at CareTwin's parameters
(OWASP's 19 MiB, 2 passes, 1 lane) and at argon2-cffi's default (64 MiB, 3 passes, 4 lanes, the
baseline); ``authenticate_password`` end to end (verify, counters, audit event);
``authenticate_token`` end to end (SHA-256 lookup, last-used update). Prints p50/p95 in ms.
Timings on the shared 2-core machine are noisy; compare against the baseline of the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher

from caretwin.access import Actor
from caretwin.services import identity, tokens, users
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace


def _times(fn: Callable[[], object], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(0.95 * n) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="repetitions of each measurement")
    n = parser.parse_args().n
    rows: list[tuple[str, tuple[float, float]]] = []
    for name, hasher in (
        ("CareTwin (19 MiB, t=2, p=1)", identity.PASSWORD_HASHER),
        ("library default (baseline)", PasswordHasher()),
    ):
        made = hasher.hash("pw")

        def hash_once(h: PasswordHasher = hasher) -> str:
            return h.hash("pw")

        def verify_once(h: PasswordHasher = hasher, m: str = made) -> bool:
            return h.verify(m, "pw")

        rows.append((f"argon2id hash, {name}", _times(hash_once, n)))
        rows.append((f"argon2id verify, {name}", _times(verify_once, n)))
    with tempfile.TemporaryDirectory() as tmp, Workspace.init(Path(tmp) / "ws") as ws:
        ctx = ServiceContext(ws, Actor("bench", frozenset({"admin"})))
        users.add_user(ctx, "alice", "Alice", ["clinician"], "pw")
        token = tokens.create_token(ctx, "alice").token
        rows.append(
            (
                "authenticate_password (end to end)",
                _times(lambda: identity.authenticate_password(ws, "alice", "pw"), n),
            )
        )
        rows.append(
            (
                "authenticate_token (end to end)",
                _times(lambda: identity.authenticate_token(ws, token), n),
            )
        )
    width = max(len(label) for label, _ in rows)
    print(f"{'measurement':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}   (n={n})")
    for label, (p50, p95) in rows:
        print(f"{label:<{width}}  {p50:8.1f}  {p95:8.1f}")


if __name__ == "__main__":
    main()
