"""CMMS corrective work orders from the trace's device failure events.

A work order is one firing of a failure clock: ``failure_reported`` is the FAIL instant,
``repair_start`` the DOWN instant (the unit was taken out of service as soon as it was idle) and
``repair_end`` the UP instant. The three events of one outage share the pool and the clock index
(FAIL carries the clock in ``unit``, DOWN/UP in ``aux``) and a clock cannot fire again before its
repair ends, so pairing by ``(pool, clock)`` in time order is exact.

The asset is the unit that DOWN took out of service. A work order still waiting for an idle unit
at the end of the data names the clock's own unit, the one the engine takes first when it is idle.
Work order numbers count failures from sim time 0, so they do not depend on the window.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from caretwin.lake.schema import WORK_ORDER_COLUMNS
from caretwin.sim.trace import EventKind, Trace
from caretwin.synth.layout import Layout
from caretwin.synth.window import Window

HEADER = WORK_ORDER_COLUMNS


@dataclass(slots=True)
class WorkOrder:
    number: int
    pool: int
    clock: int
    reported: float
    unit: int = -1
    down: float | None = None
    up: float | None = None


def work_orders(trace: Trace, window: Window) -> list[WorkOrder]:
    """Work orders reported before the window end and not already closed at its start.

    Events at or after the window end are ignored, exactly like patient events.
    """
    kinds = trace.kind
    rows = ((kinds >= EventKind.FAIL) & (trace.time < window.end_h)).nonzero()[0].tolist()
    time, kind = trace.time.tolist(), kinds.tolist()
    ref, unit, aux = trace.ref.tolist(), trace.unit.tolist(), trace.aux.tolist()
    found: list[WorkOrder] = []
    open_by_clock: dict[tuple[int, int], WorkOrder] = {}
    for j in rows:
        k = kind[j]
        if k == EventKind.FAIL:
            wo = WorkOrder(len(found) + 1, ref[j], unit[j], time[j])
            found.append(wo)
            open_by_clock[(ref[j], unit[j])] = wo
            continue
        wo_or_none = open_by_clock.get((ref[j], aux[j]))
        if wo_or_none is None:
            continue
        if k == EventKind.DOWN:
            wo_or_none.unit, wo_or_none.down = unit[j], time[j]
        else:
            wo_or_none.up = time[j]
            del open_by_clock[(ref[j], aux[j])]
    return [w for w in found if w.up is None or w.up >= window.start_h]


def workorders_csv(orders: list[WorkOrder], layout: Layout, window: Window) -> bytes:
    """The CSV text (header row first), as bytes for hashing and writing in one go."""
    buf = io.StringIO(newline="")
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(HEADER)
    for wo in orders:
        units = layout.devices[wo.pool]
        u = wo.unit if wo.unit >= 0 else wo.clock
        asset = units[u] if 0 <= u < len(units) else None
        out.writerow(
            (
                f"WO-{wo.number:06d}",
                asset.identifier if asset else "",
                asset.id if asset else "",
                "corrective",
                window.iso(wo.reported),
                window.iso(wo.down) if wo.down is not None else "",
                window.iso(wo.up) if wo.up is not None else "",
            )
        )
    return buf.getvalue().encode("utf-8")
