"""The HL7 v2 feeder: ADT messages are read, keyed and deduplicated while the batch is fed
(refusals quarantined), and applied once the stage ran, on top of this ingest's FHIR
encounters (:mod:`caretwin.hl7v2.feed`, writing through the batch's API)."""

from __future__ import annotations

from pathlib import Path

from caretwin.hl7v2.feed import feed_messages
from caretwin.hl7v2.framing import read_messages
from caretwin.ingest.batch import AfterStage, IngestBatch

__all__ = ["feed_hl7"]


def feed_hl7(batch: IngestBatch, paths: list[Path]) -> AfterStage:
    # HL7 v2 messages are refused against the state they met (a retransmission is known, not
    # refused again): reading a file again says nothing of old refusals, so no read_whole.
    pending = feed_messages(batch, [m for path in paths for m in read_messages(path)])
    return pending.apply
