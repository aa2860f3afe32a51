"""HL7 v2 ADT as audited services: a batch of messages into the lake, the MLLP listener, and a
PHI-free look at what a file's messages map to.

Files go through ``caretwin ingest`` (:mod:`caretwin.services.ingestion`), which dispatches
``.hl7`` files to :mod:`caretwin.hl7v2`. The listener commits each batch through
:func:`ingest_hl7_messages`, so every batch is one lake snapshot, one snapshot record and one
audit event (counts, ids and hashes only); the listener's whole session is a second audit event
with its totals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import Field

from caretwin.access import Permission
from caretwin.errors import ConfigError
from caretwin.hl7v2.ack import build_ack
from caretwin.hl7v2.events import STORE_FAILED, InvalidMessage, parse_event
from caretwin.hl7v2.feed import FAILED, Outcome, feed_messages
from caretwin.hl7v2.framing import RawMessage, decode, read_messages, split_messages
from caretwin.hl7v2.listener import (
    ListenerConfig,
    ListenerStats,
    MllpListener,
    check_config,
    session_details,
)
from caretwin.ingest import IngestReport
from caretwin.ingest.batch import AfterStage, IngestBatch
from caretwin.ingest.pipeline import ingest_feed
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult
from caretwin.store import add_snapshot

log = logging.getLogger(__name__)

__all__ = [
    "Hl7BatchResult",
    "Hl7MessageInfo",
    "Hl7Preview",
    "ListenerSession",
    "describe_hl7_file",
    "describe_hl7_text",
    "ingest_hl7_messages",
    "listen_mllp",
]


class Hl7BatchResult(ServiceResult):
    """A committed batch: its ingest report and one outcome per message, in arrival order."""

    report: IngestReport
    outcomes: list[Outcome]


class ListenerSession(ServiceResult):
    """An MLLP listener session's totals (counts only; the fields of ``ListenerStats``)."""

    port: int
    connections: int
    messages: int
    batches: int
    accepted: int
    duplicates: int
    refused: int
    commit_errors: int
    connections_refused: int
    connections_evicted: int
    connections_idle_closed: int
    accept_errors: int
    tls_errors: int
    ack_fallbacks: int


class Hl7MessageInfo(ServiceResult):
    """What one message maps to, without PHI: ids are pseudonymous, times only named by field
    (``times_present``). A message that would be refused has ``valid`` false, its ``reason``
    and the ``ack`` it would get, and no mapping."""

    index: int
    line: int
    valid: bool
    reason: str | None = None
    ack: str | None = None
    message_type: str | None = None
    control_id: str | None = None
    patient_id: str | None = None
    encounter_id: str | None = None
    class_code: str | None = None
    location: str | None = None
    location_id: str | None = None
    prior_location: str | None = None
    admit_source: str | None = None
    discharge_disposition: str | None = None
    times_present: list[str] = Field(default_factory=list)


def ingest_hl7_messages(
    ctx: ServiceContext, messages: Sequence[RawMessage], source: str
) -> Hl7BatchResult:
    """Commit ``messages`` (arrival order) to the lake as one snapshot; an outcome per message.

    Each message is judged alone by the feed, but if the batch as a whole cannot be stored, one
    message's rows may be the cause: then each message is committed on its own, so the others
    are stored and only the one that cannot be is answered ``AE`` (ERR-3 ``206``, send again).
    When none can be stored (the lake is unavailable), the first error is raised.
    """
    try:
        return _ingest_batch(ctx, messages, source)
    except Exception as exc:
        if len(messages) < 2:
            raise
        first_error = exc
    log.error(
        "HL7 batch of %d not stored (%s); storing each alone",
        len(messages),
        type(first_error).__name__,
    )
    outcomes: list[Outcome] = []
    report: IngestReport | None = None
    for message in messages:
        try:
            result = _ingest_batch(ctx, [message], source)
        except Exception as exc:  # the type only: the text may quote a value
            log.error("HL7 message not stored (%s)", type(exc).__name__)
            reason = f"not stored ({type(exc).__name__}); send again"
            outcomes.append(Outcome(FAILED, reason=reason, code=STORE_FAILED, ack="AE"))
            continue
        report = result.report
        outcomes.extend(result.outcomes)
    if report is None:
        raise first_error
    return Hl7BatchResult(report=report, outcomes=outcomes)


def _ingest_batch(
    ctx: ServiceContext, messages: Sequence[RawMessage], source: str
) -> Hl7BatchResult:
    with ctx.operation("data.ingest_hl7", Permission.INGEST, target=source[:500]) as op:
        outcomes: list[Outcome] = []

        def feed(batch: IngestBatch) -> list[AfterStage]:
            pending = feed_messages(batch, messages)
            return [lambda staged: outcomes.extend(pending.apply(staged))]

        report = ingest_feed(ctx.workspace.lake_dir, feed, [source])
        op.details.update(
            {
                "snapshot_id": report.snapshot_id,
                "no_change": report.no_change,
                "data_hash": report.data_hash,
                "messages": len(messages),
                "applied": sum(o.status == "applied" for o in outcomes),
                "duplicates": sum(o.status == "duplicate" for o in outcomes),
                "refused": sum(o.status == "refused" for o in outcomes),
                "failed": sum(o.status == FAILED for o in outcomes),
            }
        )
        if not report.no_change:
            add_snapshot(
                ctx.workspace,
                report.snapshot_id,
                ctx.actor,
                source=source[:500],
                counts={t: c.model_dump() for t, c in report.counts.items()},
                data_hash=report.data_hash,
            )
    return Hl7BatchResult(report=report, outcomes=outcomes)


def listen_mllp(
    ctx: ServiceContext,
    config: ListenerConfig,
    *,
    ready: Callable[[MllpListener], None] | None = None,
    handle_signals: bool = False,
) -> ListenerSession:
    """Run the MLLP listener until stopped (signal, ``stop()``, or ``max_messages``).

    ``ready`` is called once the socket is bound (``listener.stats.port`` holds the port, useful
    with port 0); it may keep the listener to call ``stop()`` from another thread.
    """
    check_config(config)
    target = f"mllp://{config.host}:{config.port}"
    with ctx.operation("data.listen_mllp", Permission.INGEST, target=target) as op:
        holder: list[MllpListener] = []

        def commit(messages: Sequence[RawMessage]) -> list[Outcome]:
            source = holder[0].source if holder else target
            return ingest_hl7_messages(ctx, messages, source).outcomes

        async def main() -> ListenerStats:
            listener = MllpListener(config, commit)
            holder.append(listener)

            def on_bound(_port: int) -> None:
                details = session_details(listener)  # a "started" with no end: killed
                ctx.audit.record(ctx.actor, "data.listen_mllp", target, "started", details)
                if ready is not None:
                    ready(listener)

            return await listener.serve(on_bound, handle_signals=handle_signals)

        try:
            stats = asyncio.run(main())
        except OSError as exc:  # port in use, address not available
            raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc}") from exc
        finally:  # the session's totals are audited however it ended
            op.details.update(holder[0].stats.as_dict() if holder else {})
    return ListenerSession.model_validate(stats.as_dict())


def describe_hl7_file(ctx: ServiceContext, path: Path) -> list[Hl7MessageInfo]:
    """What each message of ``path`` maps to, without PHI.

    Shown: index, line, message type, control id, pseudonymous patient and encounter ids, class,
    location identifiers, admit source, disposition, and which time fields are present (times of
    care are PHI, so their values are not shown), or the reason the message would be refused.
    """
    with ctx.operation("data.hl7_parse", Permission.DATA_READ, target=path.as_posix()) as op:
        out = [info for info, _ in _describe(read_messages(path))]
        op.details.update({"messages": len(out), "valid": sum(r.valid for r in out)})
    return out


class Hl7Preview(ServiceResult):
    """What the messages of a text map to (as :func:`describe_hl7_file`) and, per message, the
    ACK the listener would answer, segments joined by ``\\r``. Nothing is stored."""

    messages: list[Hl7MessageInfo]
    acks: list[str]


#: The largest text :func:`describe_hl7_text` reads (a message is a few kB).
MAX_PREVIEW_BYTES = 1_000_000


def describe_hl7_text(ctx: ServiceContext, data: bytes) -> Hl7Preview:
    """:func:`describe_hl7_file` of messages sent as bytes (the API's ``hl7 parse``), with the
    ACK each would get; audited with counts and the text's size, never its content."""
    size = len(data)
    with ctx.operation("data.hl7_parse", Permission.DATA_READ, target=f"text:{size}b") as op:
        if size > MAX_PREVIEW_BYTES:
            raise ConfigError(
                f"HL7 text of {size} bytes is over the {MAX_PREVIEW_BYTES} bytes previewed",
                details={"bytes": size, "max_bytes": MAX_PREVIEW_BYTES},
            )
        described = _describe(split_messages(decode(data), "request"))
        out = [info for info, _ in described]
        op.details.update({"messages": len(out), "valid": sum(r.valid for r in out)})
    return Hl7Preview(messages=out, acks=[ack for _, ack in described])


def _describe(messages: list[RawMessage]) -> list[tuple[Hl7MessageInfo, str]]:
    """Each message's PHI-free description and the ACK it would get."""
    out: list[tuple[Hl7MessageInfo, str]] = []
    for msg in messages:
        try:
            if msg.error is not None:
                raise InvalidMessage(msg.error, "100", "MSH", ack="AR")
            ev = parse_event(msg.text)
        except InvalidMessage as exc:
            info = Hl7MessageInfo(
                index=msg.index, line=msg.line, valid=False, reason=exc.reason, ack=exc.ack
            )
            ack = build_ack(
                msg.text, exc.ack, reason=exc.reason, error_code=exc.code, where=exc.where
            )
            out.append((info, ack))
            continue
        info = Hl7MessageInfo(
            index=msg.index,
            line=msg.line,
            valid=True,
            message_type=ev.header.message_type,
            control_id=ev.header.control_id,
            patient_id=ev.patient_id,
            encounter_id=ev.encounter_id,
            class_code=ev.class_code,
            location=ev.location.identifier() if ev.location else None,
            location_id=ev.location.location_id() if ev.location else None,
            prior_location=ev.prior_location.identifier() if ev.prior_location else None,
            admit_source=ev.admit_source,
            discharge_disposition=ev.discharge_disposition,
            times_present=[
                name
                for name, value in (
                    ("EVN-2", ev.recorded),
                    ("EVN-6", ev.occurred),
                    ("PV1-44", ev.admit_time),
                    ("PV1-45", ev.discharge_time),
                )
                if value is not None
            ],
        )
        out.append((info, build_ack(msg.text, "AA")))
    return out
