"""HL7 v2 ADT ingestion: files and an MLLP listener into the same lake tables as FHIR.

- :mod:`~caretwin.hl7v2.framing`: files and frames into messages (any line ends, MLLP, batches);
- :mod:`~caretwin.hl7v2.events`: one message checked and read into an :class:`AdtEvent`;
- :mod:`~caretwin.hl7v2.state`: what A01–A13 do to an encounter, cancels included;
- :mod:`~caretwin.hl7v2.feed`: messages into an ingest run (dedup, order, rows, lineage);
- :mod:`~caretwin.hl7v2.ack`, :mod:`~caretwin.hl7v2.listener`: ACKs and the MLLP server
  (:mod:`~caretwin.hl7v2.batching` its batches, :mod:`~caretwin.hl7v2.server` accept and TLS).

``caretwin ingest`` reads ``.hl7`` files through this package; the audited entry points are in
:mod:`caretwin.services.hl7`. docs/hl7v2.md is the mapping reference.
"""

from __future__ import annotations

from caretwin.hl7v2.ack import build_ack
from caretwin.hl7v2.er7 import silence_hl7_library_logs
from caretwin.hl7v2.events import TRIGGERS, AdtEvent, InvalidMessage, parse_event
from caretwin.hl7v2.feed import Outcome, feed_messages
from caretwin.hl7v2.framing import RawMessage, frame, is_hl7_file, read_messages, split_messages
from caretwin.hl7v2.listener import ListenerConfig, ListenerStats, MllpListener

silence_hl7_library_logs()  # it quotes whole field values (PHI) on a bad escape sequence

__all__ = [
    "TRIGGERS",
    "AdtEvent",
    "InvalidMessage",
    "ListenerConfig",
    "ListenerStats",
    "MllpListener",
    "Outcome",
    "RawMessage",
    "build_ack",
    "feed_messages",
    "frame",
    "is_hl7_file",
    "parse_event",
    "read_messages",
    "split_messages",
]
