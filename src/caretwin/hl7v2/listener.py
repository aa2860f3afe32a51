"""An asyncio MLLP listener: receive ADT messages, commit them in small batches, then ACK.

Connections are accepted by :mod:`caretwin.hl7v2.server` (connection cap, back-off at the
open-file limit, optional TLS); frames are read with ``StreamReader.readuntil``, which
reassembles frames split across TCP segments. Bytes before the start block (a stray newline
between frames) are skipped.

Durability before acknowledgement: each message joins the pending batch and its ACK waits for
the batch's commit (:mod:`caretwin.hl7v2.batching`: batches, commits, one answer per message
whatever fails). Each connection answers in the order its messages arrived, so a sender that
pipelines messages without waiting gets its ACKs in order.

Limits: a connection with no complete frame for ``idle_timeout`` seconds (while none of its
ACKs is pending) is closed; beyond ``max_connections`` the connection idle the longest (at
least ``EVICT_IDLE`` seconds) is closed to make room, else the new one is closed at once.

Shutdown (``stop()``, SIGINT/SIGTERM, or ``max_messages`` received) stops accepting, stops
reading, commits what is pending, sends the ACKs and closes the connections. A message whose
frame was not complete is not acknowledged, so the sender sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caretwin.errors import ConfigError
from caretwin.hl7v2.batching import Batcher, Commit
from caretwin.hl7v2.events import SEGMENT_SEQUENCE_ERROR
from caretwin.hl7v2.framing import FRAME_END, START_BLOCK, decode, frame
from caretwin.hl7v2.server import (
    RateLimitedLog,
    accept_forever,
    connection_cap,
    listening_socket,
    tls_context,
)

log = logging.getLogger(__name__)

MAX_FRAME = 4 * 1024 * 1024
#: A connection idle this long may be closed to make room for a new one at the cap.
EVICT_IDLE = 1.0
#: At most this many evicted connections may be closing at once.
EVICT_BURST = 4
#: A peer that does not read its ACKs for this long is disconnected.
WRITE_TIMEOUT = 30.0


@dataclass
class ListenerConfig:
    host: str = "127.0.0.1"
    port: int = 2575
    batch_size: int = 50
    batch_seconds: float = 1.0
    max_messages: int | None = None
    source: str = ""
    idle_timeout: float = 60.0  # 0: never
    max_connections: int = 64
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass
class ListenerStats:
    """Counts only: what the listener received and answered."""

    port: int = 0
    connections: int = 0
    messages: int = 0
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    commit_errors: int = 0
    connections_refused: int = 0
    connections_evicted: int = 0
    connections_idle_closed: int = 0
    accept_errors: int = 0
    tls_errors: int = 0
    ack_fallbacks: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(eq=False)  # identity, so connections can live in a set
class _Conn:
    writer: asyncio.StreamWriter
    last_active: float
    task: asyncio.Task[None] | None
    acks: asyncio.Queue[asyncio.Future[str] | None] = field(default_factory=asyncio.Queue)
    responder: asyncio.Task[None] | None = None
    outstanding: int = 0  # messages read whose ACK is not written yet
    evicted: bool = False


class MllpListener:
    """Serve until stopped; see the module docstring."""

    def __init__(self, config: ListenerConfig, commit: Commit) -> None:
        self.config = config
        self.stats = ListenerStats()
        self._handlers: set[asyncio.Task[None]] = set()
        self._conns: set[_Conn] = set()
        self._open = 0  # accepted sockets whose descriptor is not closed yet
        self._evicting = 0
        self._cap = config.max_connections
        self._ssl: ssl.SSLContext | None = None
        self._warn = RateLimitedLog(log)
        self._batcher = Batcher(
            commit, self.stats, config.batch_size, config.batch_seconds, self._warn
        )
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._source = config.source or f"mllp://{config.host}:{config.port}"

    # -- control ------------------------------------------------------------------------------

    @property
    def source(self) -> str:
        """What quarantine rows and raw resources name as the source file (``mllp://h:port``)."""
        return self._source

    @property
    def connection_limit(self) -> int:
        """``max_connections``, lowered if the open-file limit cannot hold that many."""
        return self._cap

    @property
    def tls(self) -> bool:
        return self._ssl is not None

    def stop(self) -> None:
        """Ask the listener to shut down; safe from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def serve(
        self, ready: Callable[[int], None] | None = None, handle_signals: bool = False
    ) -> ListenerStats:
        loop = self._loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._on_loop_error)
        cfg = self.config
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            self._ssl = tls_context(cfg.tls_cert, cfg.tls_key)
        sock = listening_socket(cfg.host, cfg.port)
        self._cap = connection_cap(cfg.max_connections)
        self.stats.port = int(sock.getsockname()[1])
        if not cfg.source:
            self._source = f"mllp://{cfg.host}:{self.stats.port}"
        acceptor = asyncio.create_task(
            accept_forever(sock, self._on_socket, self._warn, self._count_accept_error)
        )
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self._stop.set)
        try:
            if ready is not None:
                ready(self.stats.port)
            if self._cap < cfg.max_connections:
                log.warning(
                    "MLLP: at most %d connections (the open-file limit leaves no room for %d)",
                    self._cap,
                    cfg.max_connections,
                )
            await self._stop.wait()
        finally:
            acceptor.cancel()
            await asyncio.gather(acceptor, return_exceptions=True)
            sock.close()
            await self._shutdown()
            for sig in signals:
                loop.remove_signal_handler(sig)
        return self.stats

    async def _shutdown(self) -> None:
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*list(self._handlers), return_exceptions=True)
        await self._batcher.drain()
        await asyncio.gather(
            *(c.responder for c in list(self._conns) if c.responder), return_exceptions=True
        )

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # One line, rate-limited: asyncio would print a traceback for each occurrence.
        exc = context.get("exception")
        kind = type(exc).__name__ if exc is not None else "no exception"
        self._warn.warning("loop", "MLLP: %s (%s)", context.get("message", "error"), kind)

    def _count_accept_error(self) -> None:
        self.stats.accept_errors += 1

    # -- connections --------------------------------------------------------------------------

    def _on_socket(self, sock: socket.socket) -> None:
        if self._stop.is_set():
            sock.close()
            return
        # An evicted connection holds its descriptor until its close completes: a few may be
        # in flight beyond the cap (COMMIT_FDS leaves room), a burst of new ones may not.
        full = self._open >= self._cap + min(self._evicting, EVICT_BURST)
        if full and not (self._evicting < EVICT_BURST and self._evict_idle()):
            self.stats.connections_refused += 1
            self._warn.warning(
                "cap",
                "MLLP: connection refused: %d connections open (limit %d)",
                self._open,
                self._cap,
            )
            sock.close()
            return
        self._open += 1
        task = asyncio.create_task(self._handle(sock))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    def _evict_idle(self) -> bool:
        """Close the connection idle the longest (if long enough) to make room for a new one."""
        assert self._loop is not None
        now = self._loop.time()
        idle = [
            c
            for c in self._conns
            if not c.evicted and c.outstanding == 0 and now - c.last_active >= EVICT_IDLE
        ]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last_active)
        oldest.evicted = True
        self._evicting += 1
        self.stats.connections_evicted += 1
        if oldest.task is not None:
            oldest.task.cancel()
        return True

    async def _handle(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        conn: _Conn | None = None
        try:
            reader = asyncio.StreamReader(limit=MAX_FRAME)
            protocol = asyncio.StreamReaderProtocol(reader)
            handshake = (self.config.idle_timeout or 60.0) if self._ssl is not None else None
            try:
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol, sock, ssl=self._ssl, ssl_handshake_timeout=handshake
                )
            except (OSError, ssl.SSLError) as exc:
                self.stats.tls_errors += self._ssl is not None
                self._warn.warning(
                    "handshake", "MLLP: connection setup failed (%s)", type(exc).__name__
                )
                sock.close()
                return
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            conn = _Conn(writer, loop.time(), asyncio.current_task())
            conn.responder = asyncio.create_task(self._respond(conn))
            self._conns.add(conn)
            self.stats.connections += 1
            try:
                await self._read(reader, conn)
            except asyncio.CancelledError:
                pass  # shutdown or eviction: stop reading; what was read is still answered
            except Exception as exc:  # never let one connection's error reach the loop
                self._warn.warning("read", "MLLP: connection error (%s)", type(exc).__name__)
            finally:
                conn.acks.put_nowait(None)  # the responder answers what was read, then closes
        finally:
            if conn is None:
                self._open -= 1

    async def _read(self, reader: asyncio.StreamReader, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        idle = self.config.idle_timeout
        while not self._stop.is_set():
            try:
                if idle > 0:
                    wait = max(0.05, conn.last_active + idle - loop.time())
                    block = await asyncio.wait_for(reader.readuntil(FRAME_END), wait)
                else:
                    block = await reader.readuntil(FRAME_END)
            except TimeoutError:  # a cancelled readuntil keeps the bytes it buffered
                if conn.outstanding or loop.time() - conn.last_active < idle:
                    continue  # waiting for our own ACK is not idleness
                self.stats.connections_idle_closed += 1
                return
            except asyncio.IncompleteReadError:
                return  # the peer closed; an unfinished frame is not acknowledged
            except asyncio.LimitOverrunError:
                await self._answer_now(conn, "AR", "frame too large")
                return  # the stream cannot be resynchronised safely
            except (ConnectionError, OSError):
                return
            conn.last_active = loop.time()
            start = block.find(START_BLOCK)
            if start < 0:
                await self._answer_now(conn, "AR", "not an MLLP frame (no start block)")
                continue
            conn.outstanding += 1
            text = decode(block[start + 1 : -len(FRAME_END)])
            await conn.acks.put(self._batcher.submit(text, self._source))
            if self.config.max_messages and self.stats.messages >= self.config.max_messages:
                self._stop.set()
                return

    async def _answer_now(self, conn: _Conn, code: str, reason: str) -> None:
        fut = self._batcher.answered(
            self._batcher.reply("", code, reason=reason, error_code=SEGMENT_SEQUENCE_ERROR)
        )
        conn.outstanding += 1
        await conn.acks.put(fut)

    async def _respond(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        abort = False
        try:
            while (fut := await conn.acks.get()) is not None:
                ack = await fut
                if conn.writer.transport.is_closing():
                    break  # lost: asyncio would log a warning for every further write
                conn.writer.write(frame(ack.encode("utf-8")))
                await asyncio.wait_for(conn.writer.drain(), WRITE_TIMEOUT)
                conn.outstanding -= 1
                conn.last_active = loop.time()
        except TimeoutError:
            abort = True  # the peer does not read: do not wait on it to close either
        except (ConnectionError, OSError):
            pass  # the peer went away; its unacknowledged messages will be resent
        finally:
            if abort:
                conn.writer.transport.abort()
            else:
                conn.writer.close()
            self._conns.discard(conn)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.writer.wait_closed(), WRITE_TIMEOUT)
            self._open -= 1  # only now is the descriptor free
            self._evicting -= conn.evicted


def check_config(config: ListenerConfig) -> None:
    """Refuse limits and TLS settings that cannot work, before anything is bound."""
    if config.batch_size < 1 or config.batch_seconds <= 0:
        raise ConfigError("batch size must be at least 1 and batch seconds positive")
    if config.idle_timeout < 0 or config.max_connections < 1:
        raise ConfigError("idle timeout must be 0 (none) or positive, max connections at least 1")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("TLS needs both a certificate file and the file of its private key")


def session_details(listener: MllpListener) -> dict[str, object]:
    """What the session-start audit event records: where and how the listener listens."""
    cfg = listener.config
    return {
        "port": listener.stats.port,
        "tls": listener.tls,
        "max_connections": listener.connection_limit,
        "idle_timeout": cfg.idle_timeout,
        "batch_size": cfg.batch_size,
        "batch_seconds": cfg.batch_seconds,
    }
