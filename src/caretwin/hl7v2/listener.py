"""An asyncio MLLP listener: receive ADT messages, commit them in small batches, then ACK.

Framing and the server plumbing come from ``hl7.mllp`` (``start_hl7_server`` and its stream
classes; the reader's ``readuntil`` reassembles frames split across TCP segments). Frames are
read leniently: bytes before the start block (a stray newline between frames) are skipped.

Durability before acknowledgement: each message joins the pending batch and its ACK waits for
the batch's commit. A batch is committed when it holds ``batch_size`` messages, when its first
message has waited ``batch_seconds``, and at shutdown. Commits run one at a time in a worker
thread (the lake writer is blocking), in arrival order, so the event loop keeps accepting while
a batch is written. Each connection answers in the order its messages arrived, so a sender that
pipelines messages without waiting gets its ACKs in order.

Shutdown (``stop()``, SIGINT/SIGTERM, or ``max_messages`` received) stops accepting, stops
reading, commits what is pending, sends the ACKs and closes the connections. A message whose
frame was not complete is not acknowledged, so the sender sends it again.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hl7.mllp import start_hl7_server

from caretwin.hl7v2.ack import build_ack
from caretwin.hl7v2.events import SEGMENT_SEQUENCE_ERROR, STORE_FAILED
from caretwin.hl7v2.feed import APPLIED, DUPLICATE, Outcome
from caretwin.hl7v2.framing import FRAME_END, START_BLOCK, RawMessage, decode, split_messages

log = logging.getLogger(__name__)

#: Commits a batch of messages durably and says what became of each (runs in a worker thread).
Commit = Callable[[Sequence[RawMessage]], Sequence[Outcome]]
MAX_FRAME = 4 * 1024 * 1024


@dataclass
class ListenerConfig:
    host: str = "127.0.0.1"
    port: int = 2575
    batch_size: int = 50
    batch_seconds: float = 1.0
    max_messages: int | None = None
    source: str = ""


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

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Pending:
    message: RawMessage
    future: asyncio.Future[str]


@dataclass(eq=False)  # identity, so connections can live in a set
class _Conn:
    writer: Any
    reader_task: asyncio.Task[None] | None = None
    acks: asyncio.Queue[asyncio.Future[str] | None] = field(default_factory=asyncio.Queue)
    responder: asyncio.Task[None] | None = None


class MllpListener:
    """Serve until stopped; see the module docstring."""

    def __init__(self, config: ListenerConfig, commit: Commit) -> None:
        self.config = config
        self._commit = commit
        self.stats = ListenerStats()
        self._batch: list[_Pending] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._conns: set[_Conn] = set()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._source = config.source or f"mllp://{config.host}:{config.port}"

    # -- control ------------------------------------------------------------------------------

    @property
    def source(self) -> str:
        """What quarantine rows and raw resources name as the source file (``mllp://h:port``)."""
        return self._source

    def stop(self) -> None:
        """Ask the listener to shut down; safe from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def serve(
        self, ready: Callable[[int], None] | None = None, handle_signals: bool = False
    ) -> ListenerStats:
        self._loop = asyncio.get_running_loop()
        server = await start_hl7_server(
            self._on_connect, self.config.host, self.config.port, limit=MAX_FRAME
        )
        self.stats.port = int(server.sockets[0].getsockname()[1])
        if not self.config.source:
            self._source = f"mllp://{self.config.host}:{self.stats.port}"
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(sig, self._stop.set)
        if ready is not None:
            ready(self.stats.port)
        try:
            await self._stop.wait()
        finally:
            server.close()
            await self._shutdown()
            await server.wait_closed()
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    self._loop.remove_signal_handler(sig)
        return self.stats

    async def _shutdown(self) -> None:
        for conn in list(self._conns):
            if conn.reader_task is not None:
                conn.reader_task.cancel()
        await asyncio.gather(
            *(c.reader_task for c in list(self._conns) if c.reader_task), return_exceptions=True
        )
        await self._flush()
        await asyncio.gather(*self._flushes, return_exceptions=True)
        await asyncio.gather(
            *(c.responder for c in list(self._conns) if c.responder), return_exceptions=True
        )

    # -- connections --------------------------------------------------------------------------

    async def _on_connect(self, reader: Any, writer: Any) -> None:
        conn = _Conn(writer=writer, reader_task=asyncio.current_task())
        conn.responder = asyncio.create_task(self._respond(conn))
        self._conns.add(conn)
        self.stats.connections += 1
        try:
            await self._read(reader, conn)
        except asyncio.CancelledError:
            pass  # shutdown: stop reading; what was read is still answered
        finally:
            conn.acks.put_nowait(None)

    async def _read(self, reader: Any, conn: _Conn) -> None:
        while not self._stop.is_set():
            try:
                block: bytes = await reader.readuntil(FRAME_END)
            except asyncio.IncompleteReadError:
                return  # the peer closed; an unfinished frame is not acknowledged
            except asyncio.LimitOverrunError:
                fut = self._loop_future()
                fut.set_result(build_ack("", "AR", reason="frame too large", error_code="100"))
                await conn.acks.put(fut)
                return  # the stream cannot be resynchronised safely
            except ConnectionError:
                return
            start = block.find(START_BLOCK)
            if start < 0:
                fut = self._loop_future()
                reason = "not an MLLP frame (no start block)"
                fut.set_result(build_ack("", "AR", reason=reason, error_code="100"))
                await conn.acks.put(fut)
                continue
            await conn.acks.put(self._submit(decode(block[start + 1 : -len(FRAME_END)])))
            if self.config.max_messages and self.stats.messages >= self.config.max_messages:
                self._stop.set()
                return

    async def _respond(self, conn: _Conn) -> None:
        try:
            while (fut := await conn.acks.get()) is not None:
                ack = await fut
                conn.writer.writeblock(ack.encode("utf-8"))
                await conn.writer.drain()
        except (ConnectionError, OSError):
            pass  # the peer went away; its unacknowledged messages will be resent
        finally:
            conn.writer.close()
            self._conns.discard(conn)

    # -- batching -----------------------------------------------------------------------------

    def _loop_future(self) -> asyncio.Future[str]:
        return asyncio.get_running_loop().create_future()

    def _submit(self, text: str) -> asyncio.Future[str]:
        self.stats.messages += 1
        fut = self._loop_future()
        parts = split_messages(text, self._source)
        if len(parts) != 1 or parts[0].error is not None:
            reason = "an MLLP frame must hold exactly one message"
            fut.set_result(build_ack(text, "AR", reason=reason, error_code=SEGMENT_SEQUENCE_ERROR))
            self.stats.refused += 1
            return fut
        # The line is the message's arrival number in this listener session.
        message = RawMessage(self._source, self.stats.messages, self.stats.messages, parts[0].text)
        self._batch.append(_Pending(message, fut))
        if len(self._batch) >= self.config.batch_size:
            self._schedule_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self.config.batch_seconds, self._schedule_flush
            )
        return fut

    def _schedule_flush(self) -> None:
        task = asyncio.create_task(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            batch, self._batch = self._batch, []
            if not batch:
                return
            self.stats.batches += 1
            messages = [p.message for p in batch]
            try:
                outcomes = list(await asyncio.to_thread(self._commit, messages))
            except Exception as exc:  # answer AE so the sender retries; never log content
                log.error("HL7 batch of %d messages not committed: %s", len(batch), type(exc))
                self.stats.commit_errors += len(batch)
                reason = "the message could not be stored; send it again"
                for p in batch:
                    p.future.set_result(
                        build_ack(p.message.text, "AE", reason=reason, error_code=STORE_FAILED)
                    )
                return
            for p, outcome in zip(batch, outcomes, strict=True):
                p.future.set_result(self._ack(p.message, outcome))

    def _ack(self, message: RawMessage, outcome: Outcome) -> str:
        if outcome.status in (APPLIED, DUPLICATE):
            self.stats.accepted += outcome.status == APPLIED
            self.stats.duplicates += outcome.status == DUPLICATE
            return build_ack(message.text, "AA")
        self.stats.refused += 1
        return build_ack(
            message.text,
            outcome.ack,
            reason=outcome.reason,
            error_code=outcome.code,
            where=outcome.where,
        )
