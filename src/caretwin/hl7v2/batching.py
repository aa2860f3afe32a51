"""The MLLP listener's batches: messages in, one commit per batch, one answer per message.

A batch is committed when it holds ``batch_size`` messages, when its first message has waited
``batch_seconds``, and at shutdown. Commits run one at a time in a worker thread (the lake
writer is blocking), in arrival order, so the event loop keeps accepting while a batch is
written. Each message's answer is a future resolved once its batch is committed.

Every message is answered from its own outcome. If a batch's commit raises, its messages are
committed again one by one, so only the one that fails alone is answered ``AE`` (not stored,
send again) and the others are stored. If the ACK builder raises, a minimal ACK of our own
(:func:`fallback_ack`) is sent instead: an answer is never lost, so a connection never waits
forever and shutdown never hangs on one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from caretwin.hl7v2.ack import build_ack
from caretwin.hl7v2.events import SEGMENT_SEQUENCE_ERROR, STORE_FAILED
from caretwin.hl7v2.feed import APPLIED, DUPLICATE, FAILED, Outcome
from caretwin.hl7v2.framing import RawMessage, split_messages
from caretwin.hl7v2.server import RateLimitedLog

if TYPE_CHECKING:
    from caretwin.hl7v2.listener import ListenerStats

log = logging.getLogger(__name__)

#: Commits a batch of messages durably and says what became of each (runs in a worker thread).
Commit = Callable[[Sequence[RawMessage]], Sequence[Outcome]]
NOT_STORED = "the message could not be stored; send it again"
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def fallback_ack(text: str, code: str, reason: str = "", error_code: str = "") -> str:
    """A minimal ACK built without parsing ``text``: used when the ACK builder fails.

    Only the control id is taken from the message, and only its plain characters, so nothing
    in the answer comes from a field that could hold patient data or break the ACK's syntax.
    """
    head = text.split("\r", 1)[0]
    fields = head.split(head[3]) if head.startswith("MSH") and len(head) > 3 else []
    control_id = _SAFE_ID.sub("", fields[9])[:20] if len(fields) > 9 else ""
    code = code if code in ("AA", "AE", "AR") else "AE"
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    ack = f"MSH|^~\\&|CareTwin||||{now}||ACK|ACK{control_id}|P|2.5\rMSA|{code}|{control_id}"
    if code == "AA" or not reason:
        return ack
    for raw, esc in _ESCAPES:
        reason = reason.replace(raw, esc)
    reason = reason.replace("\r", " ").replace("\n", " ")[:80]
    return f"{ack}|{reason}\rERR|||{error_code or STORE_FAILED}^{reason}^HL70357|E||||{reason}"


@dataclass
class _Pending:
    message: RawMessage
    future: asyncio.Future[str]


class Batcher:
    """Pending messages, their commits and their answers (event-loop side, one per listener)."""

    def __init__(
        self,
        commit: Commit,
        stats: ListenerStats,
        batch_size: int,
        batch_seconds: float,
        warn: RateLimitedLog,
    ) -> None:
        self._commit = commit
        self.stats = stats
        self._size = batch_size
        self._seconds = batch_seconds
        self._warn = warn
        self._batch: list[_Pending] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    def submit(self, text: str, source: str) -> asyncio.Future[str]:
        """Queue one frame's text; the future resolves to its ACK. Never raises."""
        try:
            return self._submit(text, source)
        except Exception as exc:  # answered, so the connection keeps its order and goes on
            self._warn.warning("submit", "MLLP: message not queued (%s)", type(exc).__name__)
            self.stats.commit_errors += 1
            return self.answered(fallback_ack(text, "AE", NOT_STORED, STORE_FAILED))

    def answered(self, ack: str) -> asyncio.Future[str]:
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(ack)
        return fut

    async def drain(self) -> None:
        """Commit what is pending and wait for every commit under way (shutdown)."""
        await self.flush()
        await asyncio.gather(*list(self._flushes), return_exceptions=True)

    def _submit(self, text: str, source: str) -> asyncio.Future[str]:
        self.stats.messages += 1
        parts = split_messages(text, source)
        if len(parts) != 1 or parts[0].error is not None:
            reason = "an MLLP frame must hold exactly one message"
            self.stats.refused += 1
            return self.answered(
                self.reply(text, "AR", reason=reason, error_code=SEGMENT_SEQUENCE_ERROR)
            )
        # The line is the message's arrival number in this listener session.
        message = RawMessage(source, self.stats.messages, self.stats.messages, parts[0].text)
        fut = asyncio.get_running_loop().create_future()
        self._batch.append(_Pending(message, fut))
        if len(self._batch) >= self._size:
            self._schedule_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._seconds, self._schedule_flush)
        return fut

    def _schedule_flush(self) -> None:
        task = asyncio.create_task(self.flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def flush(self) -> None:
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            batch, self._batch = self._batch, []
            if not batch:
                return
            self.stats.batches += 1
            try:
                outcomes = await self._commit_batch([p.message for p in batch])
                for p, outcome in zip(batch, outcomes, strict=True):
                    p.future.set_result(self._answer(p.message, outcome))
            finally:  # whatever went wrong above, every message of the batch gets an answer
                for p in batch:
                    if not p.future.done():
                        self.stats.commit_errors += 1
                        p.future.set_result(
                            fallback_ack(p.message.text, "AE", NOT_STORED, STORE_FAILED)
                        )

    async def _commit_batch(self, messages: list[RawMessage]) -> list[Outcome | None]:
        """Each message's outcome, ``None`` for one that could not be stored."""
        try:
            return [*await self._commit_checked(messages)]
        except Exception as exc:  # the type only: an exception's text may quote the message
            log.error(
                "HL7 batch of %d messages not committed (%s)", len(messages), type(exc).__name__
            )
            if len(messages) == 1:
                self.stats.commit_errors += 1
                return [None]
        # One bad message must not cost the others: commit them one by one.
        out: list[Outcome | None] = []
        for message in messages:
            try:
                out.extend(await self._commit_checked([message]))
            except Exception as exc:
                self.stats.commit_errors += 1
                log.error("HL7 message #%d not stored (%s)", message.index, type(exc).__name__)
                out.append(None)
        return out

    async def _commit_checked(self, messages: list[RawMessage]) -> list[Outcome]:
        outcomes = list(await asyncio.to_thread(self._commit, messages))
        if len(outcomes) != len(messages):
            raise RuntimeError(f"{len(outcomes)} outcomes for {len(messages)} messages")
        return outcomes

    def _answer(self, message: RawMessage, outcome: Outcome | None) -> str:
        if outcome is None:
            return self.reply(message.text, "AE", reason=NOT_STORED, error_code=STORE_FAILED)
        if outcome.status in (APPLIED, DUPLICATE):
            self.stats.accepted += outcome.status == APPLIED
            self.stats.duplicates += outcome.status == DUPLICATE
            return self.reply(message.text, "AA")
        if outcome.status == FAILED:  # judged fine but not stored: the sender sends it again
            self.stats.commit_errors += 1
        else:
            self.stats.refused += 1
        return self.reply(
            message.text,
            outcome.ack,
            reason=outcome.reason,
            error_code=outcome.code,
            where=outcome.where,
        )

    def reply(
        self, text: str, code: str, *, reason: str = "", error_code: str = "", where: str = ""
    ) -> str:
        """``build_ack``, or the listener's own minimal ACK if it raises: always an answer."""
        try:
            return build_ack(text, code, reason=reason, error_code=error_code, where=where)
        except Exception as exc:
            self.stats.ack_fallbacks += 1
            self._warn.warning(
                "ack", "MLLP: the ACK builder failed (%s); sent a minimal ACK", type(exc).__name__
            )
            return fallback_ack(text, code, reason, error_code)
