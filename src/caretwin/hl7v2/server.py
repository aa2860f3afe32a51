"""Accepting MLLP connections: the connection cap, back-off at the open-file limit, and TLS.

asyncio's own accept loop (``loop.create_server``) is not used. On Python 3.11, when
``accept()`` fails with EMFILE it logs a traceback and schedules a retry once per connection
waiting in the backlog, in the same tick; a few hundred idle connections at the open-file
limit then write megabytes of "Too many open files" a second and the retries pile up. Here one
task accepts; at EMFILE/ENFILE it sleeps (doubling up to 2 s) and says so once a minute.

The cap on connections is also lowered to what the open-file limit allows with room left for
the commits (the lake and the metadata database open files too), so the listener reaches the
limit with its own sockets only when something else holds descriptors.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from caretwin.errors import ConfigError

#: Descriptors kept free for what a commit opens (Parquet files, DuckDB, the database, audit).
COMMIT_FDS = 48
MAX_BACKOFF = 2.0
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class RateLimitedLog:
    """At most one line per topic per ``every`` seconds; the lines held back are counted."""

    def __init__(self, logger: logging.Logger, every: float = 60.0) -> None:
        self._log = logger
        self._every = every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, topic: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(topic)
        if last is not None and now - last < self._every:
            self._held[topic] = self._held.get(topic, 0) + 1
            return
        self._last[topic] = now
        held = self._held.pop(topic, 0)
        suffix = f" ({held} more since the last such line)" if held else ""
        self._log.warning(msg + suffix, *args)


def open_files_limit() -> int | None:
    """The soft RLIMIT_NOFILE, or None where unlimited or unknown."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _open_files() -> int:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return 16


def connection_cap(requested: int) -> int:
    """``requested``, lowered so open connections leave ``COMMIT_FDS`` descriptors free."""
    limit = open_files_limit()
    if limit is None:
        return requested
    return max(1, min(requested, limit - _open_files() - COMMIT_FDS))


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context (TLS 1.2 or later) from PEM files; unreadable files are a ConfigError."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        # The message names the files and the error, never their content.
        raise ConfigError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from exc
    return context


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking TCP socket (IPv6 when ``host`` is an IPv6 address)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _name, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def accept_forever(
    sock: socket.socket,
    on_socket: Callable[[socket.socket], None],
    warn: RateLimitedLog,
    on_error: Callable[[], None],
) -> None:
    """Accept until cancelled, handing each socket to ``on_socket``; back off when out of fds."""
    loop = asyncio.get_running_loop()
    delay = 0.0
    while True:
        try:
            conn, _addr = await loop.sock_accept(sock)
        except OSError as exc:
            if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EAGAIN):
                continue  # the peer gave up before we accepted: nothing to do
            on_error()
            delay = min(max(delay * 2, 0.05), MAX_BACKOFF)
            if exc.errno in _OUT_OF_RESOURCES:
                warn.warning(
                    "accept",
                    "MLLP: cannot accept connections (%s; open-file limit %s); backing off",
                    os.strerror(exc.errno or 0),
                    open_files_limit() or "unlimited",
                )
            else:
                warn.warning("accept", "MLLP: accept failed (%s); backing off", exc)
            await asyncio.sleep(delay)
            continue
        delay = 0.0
        on_socket(conn)
        await asyncio.sleep(0)  # sock_accept does not yield while the backlog is full
