"""One patient's events turned into encounters, location histories, orders and procedures.

The rules are driven by the :class:`~caretwin.synth.layout.Layout` (resource kinds and which steps
acquire what), not by step names, so any twin definition maps onto the same EHR shapes:

* arrival opens an encounter when the pathway has a waiting area: the patient is in that area
  until the entry pool's unit is acquired (RH1: ``ED-WAIT`` for ED visits, ``SURG-LOUNGE`` for
  electives, whose inpatient stay therefore starts at arrival);
* acquiring a location unit of the same class as the open encounter adds a location entry to it;
  of another class (or with none open) opens a new encounter ``partOf`` the previous one (RH1: the
  inpatient stay starts when the ward or ICU bed is assigned, part of the ED visit);
* releasing a location, or exit, ends its entry; an encounter ends with its last entry;
* a step acquiring a device is an order authored at the step's request, fulfilled when the step
  ends, and a procedure from the step's start to its end on the unit acquired;
* a step acquiring a location pool while a location is held is a bed request authored at the
  step's request, fulfilled when the bed is assigned.

Times are kept as row indexes into the trace so that the caller formats each instant once and
identical instants always print identically (which is what makes location periods tile).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from caretwin.sim.trace import EventKind
from caretwin.synth.layout import EMER, IMP, Asset, Layout, Place

_ARRIVE = int(EventKind.ARRIVE)
_REQUEST = int(EventKind.REQUEST)
_ACQUIRE = int(EventKind.ACQUIRE)
_START = int(EventKind.START)
_END = int(EventKind.END)
_RELEASE = int(EventKind.RELEASE)
_EXIT = int(EventKind.EXIT)


@dataclass(slots=True)
class Stay:
    """One ``Encounter.location`` entry; ``end`` is -1 while the patient is still there."""

    place: Place
    start: int
    end: int = -1


@dataclass(slots=True)
class Enc:
    cls: str  # EMER or IMP
    stays: list[Stay]
    part_of: int = -1
    from_arrival: bool = False  # opened at hospital arrival (elective inpatient: outp)

    @property
    def start(self) -> int:
        return self.stays[0].start

    @property
    def finished(self) -> bool:
        return all(s.end >= 0 for s in self.stays)

    @property
    def end(self) -> int:
        return max(s.end for s in self.stays) if self.finished else -1


@dataclass(slots=True)
class Order:
    code: str
    display: str
    enc: int
    authored: int
    done: bool = False


@dataclass(slots=True)
class Scan:
    order: int
    enc: int
    asset: Asset | None
    start: int
    end: int = -1


@dataclass(slots=True)
class Episode:
    """Everything one patient did up to the cut, as row indexes."""

    entity: int
    arrival: int = -1
    encounters: list[Enc] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    scans: list[Scan] = field(default_factory=list)


class EpisodeBuilder:
    """Replays one patient's trace rows (already cut at the window end) into an :class:`Episode`.

    The columns are plain Python lists (``tolist()`` of the trace arrays): indexing them is several
    times faster than indexing numpy arrays element by element in this loop.
    """

    def __init__(self, layout: Layout, kind: list[int], ref: list[int], unit: list[int]) -> None:
        self.layout = layout
        self.kind = kind
        self.ref = ref
        self.unit = unit

    def build(self, entity: int, rows: list[int]) -> Episode:
        lay = self.layout
        kind, ref, unit = self.kind, self.ref, self.unit
        ep = Episode(entity)
        encs = ep.encounters
        cur = -1  # index of the open encounter the patient is in
        step = -1  # step of the last request
        held: dict[int, Stay] = {}
        step_order: dict[int, int] = {}
        step_scan: dict[int, int] = {}
        device_unit: dict[int, int] = {}
        for j in rows:
            k = kind[j]
            if k == _ACQUIRE:
                r = ref[j]
                if lay.res_is_device[r]:
                    device_unit[r] = unit[j]
                    continue
                cls = lay.res_class[r]
                if cls is None:
                    continue
                stay = Stay(lay.beds[r][unit[j]], j)
                if cur >= 0 and encs[cur].cls == cls:
                    for s in encs[cur].stays:
                        if s.end < 0 and s.place.physical_type == "area":
                            s.end = j
                    encs[cur].stays.append(stay)
                else:
                    encs.append(Enc(cls, [stay], part_of=cur))
                    cur = len(encs) - 1
                held[r] = stay
                o = step_order.get(step, -1)
                if o >= 0 and lay.step_bed[step] == r:
                    ep.orders[o].done = True
            elif k == _REQUEST:
                step = ref[j]
                self._request(ep, step, j, cur, bool(held), step_order)
            elif k == _START:
                d = lay.step_device[ref[j]]
                if d >= 0:
                    u = device_unit.get(d, -1)
                    asset = lay.devices[d][u] if u >= 0 else None
                    o = step_order.get(ref[j], -1)
                    ep.scans.append(Scan(o, ep.orders[o].enc if o >= 0 else cur, asset, j))
                    step_scan[ref[j]] = len(ep.scans) - 1
            elif k == _END:
                sc = step_scan.pop(ref[j], -1)
                if sc >= 0:
                    ep.scans[sc].end = j
                    if ep.scans[sc].order >= 0:
                        ep.orders[ep.scans[sc].order].done = True
            elif k == _RELEASE:
                stay_or_none = held.pop(ref[j], None)
                if stay_or_none is not None:
                    stay_or_none.end = j
            elif k == _ARRIVE:
                ep.arrival = j
                area = lay.waiting[ref[j]]
                if area is not None:
                    cls = lay.entry_class[ref[j]] or EMER
                    encs.append(Enc(cls, [Stay(area, j)], from_arrival=True))
                    cur = len(encs) - 1
            elif k == _EXIT:
                for enc in encs:
                    for s in enc.stays:
                        if s.end < 0:
                            s.end = j
                held.clear()
        return ep

    def _request(
        self,
        ep: Episode,
        step: int,
        j: int,
        cur: int,
        holds_location: bool,
        step_order: dict[int, int],
    ) -> None:
        lay = self.layout
        d = lay.step_device[step]
        b = lay.step_bed[step]
        enc_cls = ep.encounters[cur].cls if cur >= 0 else None
        if d >= 0:
            code, display = lay.device_order_code(d), f"{lay.device_unit[d]} examination"
        elif b >= 0 and holds_location:
            code = lay.bed_order_code(b, enc_cls)
            display = f"{code.partition('-')[0].capitalize()} bed request"
        else:
            return
        ep.orders.append(Order(code, display, cur, j))
        step_order[step] = len(ep.orders) - 1


__all__ = ["EMER", "IMP", "Enc", "Episode", "EpisodeBuilder", "Order", "Scan", "Stay"]
