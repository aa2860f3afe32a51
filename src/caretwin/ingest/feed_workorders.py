"""The CMMS work-order feeder: each valid CSV row is one raw record (type ``WorkOrder``) and
one ``work_orders`` row, which lands only if its record becomes current."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from caretwin.ingest.batch import IngestBatch
from caretwin.ingest.parse import Chunk, Parsed, RecordBuilder, spool
from caretwin.ingest.records import WORK_ORDER_TYPE, InvalidRecord
from caretwin.ingest.workorders import normalize_work_order, read_csv, work_order_id

__all__ = ["feed_work_orders"]


def feed_work_orders(batch: IngestBatch, paths: list[Path]) -> None:
    for path in paths:
        batch.read_whole(path)
        _feed_file(batch, path)


def _feed_file(batch: IngestBatch, path: Path) -> None:
    chunk = batch.assign(Chunk(path.as_posix(), 1, b""))
    out = RecordBuilder(path.as_posix())
    for rec in read_csv(path, path.as_posix()):
        out.records += 1
        if rec.error is not None or rec.data is None:
            out.refuse(rec.line, None, rec.error or "unreadable", rec.excerpt)
            out.quarantine[-1]["resource_type"] = WORK_ORDER_TYPE
            continue
        try:
            wid = work_order_id(rec.data)
            row = normalize_work_order(rec.data)
        except InvalidRecord as exc:
            out.refuse(rec.line, None, exc.reason, rec.excerpt)
            out.quarantine[-1]["resource_type"] = WORK_ORDER_TYPE
            continue
        canon = orjson.dumps(rec.data, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(canon).hexdigest()
        batch.add_record_row(chunk, len(out.rows), "work_orders", row)
        out.add(WORK_ORDER_TYPE, wid, digest, rec.line, canon, digest, None, None, False)
    table = out.table()
    if table.num_rows and chunk.out is not None:
        spool(table, chunk.index, chunk.out)
    spooled = chunk.out if table.num_rows else None
    types = {WORK_ORDER_TYPE: table.num_rows}
    batch.add_parsed(Parsed(None, out.quarantine, out.records, table.num_rows, spooled, types))
