"""The hospital's physical layout derived from a twin definition: locations, devices, step roles.

Why derive it instead of listing it: the generator must work for any twin definition, not only
RH1, so everything the FHIR writers need is read off the model once, here:

* a resource pool of kind ``device`` becomes one ``Device`` per unit (identifier ``CT-1``,
  ``CT-2``: the pool's ``unit`` code and the 1-based unit index); pools of kind ``bed``,
  ``treatment_space`` or ``other`` become one unit ``Location`` (``wa``) per ``unit`` code and one
  bed ``Location`` (``bd``) per unit of capacity (``ED-07``, ``MED-112``: zero-padded to at least
  two digits, wider when the unit has 100 or more beds); ``staff`` pools leave no trace in the EHR;
* a location pool of kind ``treatment_space`` is an emergency setting (Encounter class ``EMER``),
  any other location pool an inpatient one (``IMP``);
* the pool acquired by a pathway's entry step gets a waiting area: ``<UNIT>-WAIT`` when the
  pathway is fed by unscheduled (Poisson) arrivals, ``<UNIT>-LOUNGE`` when only by scheduled ones
  (electives wait in an admission lounge);
* a device sits in the unit of the location pool acquired by the entry step of the pathway that
  uses it (RH1: the CT scanners serve ED patients, so they are located in ED);
* a step that acquires a device is an order plus a procedure on that device; a step that acquires
  a location pool is a bed request when the patient already holds a location (order code
  ``admit-<pool>`` when moving from an emergency to an inpatient setting, else ``transfer-<pool>``,
  where ``<pool>`` is the pool id without a ``_bed`` suffix: ``icu_bed`` gives ``admit-icu``).

Ids of locations and devices depend only on the model name and the identifier, never on the seed,
so two extracts of the same hospital agree on where things are.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from caretwin.model.definition import (
    PoissonArrivals,
    ResourceKind,
    ResourcePool,
    TwinDefinition,
)
from caretwin.sim.trace import Trace

EMER = "EMER"
IMP = "IMP"
_LOCATION_KINDS = {ResourceKind.bed, ResourceKind.treatment_space, ResourceKind.other}


@dataclass(frozen=True, slots=True)
class Place:
    """A FHIR Location: a unit (``wa``), a bed or treatment space (``bd``) or a waiting ``area``."""

    identifier: str
    id: str
    name: str
    physical_type: str
    part_of: str | None = None  # id of the parent Location


@dataclass(frozen=True, slots=True)
class Asset:
    """A FHIR Device (one unit of a device pool), also the CMMS asset."""

    identifier: str
    id: str
    type_code: str
    type_display: str
    location_id: str | None


class Ids:
    """Deterministic uuid5 ids: site-wide ones (locations, devices) and per-seed record ids.

    ``record_id`` is :func:`uuid.uuid5` computed by hand from a pre-hashed namespace prefix: a
    year of RH1 needs ~300,000 ids and this is ~3x faster than building ``UUID`` objects, with the
    same result (a unit test compares the two).
    """

    def __init__(self, model_name: str, seed: int) -> None:
        self.site = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:caretwin:synth:{model_name}")
        self.run = uuid.uuid5(self.site, f"seed:{seed}")
        self._run_sha1 = hashlib.sha1(self.run.bytes, usedforsecurity=False)

    @classmethod
    def for_run(cls, model_name: str, seed: int) -> Ids:
        return cls(model_name, seed)

    def site_id(self, kind: str, key: str) -> str:
        return str(uuid.uuid5(self.site, f"{kind}/{key}"))

    def record_id(self, kind: str, entity: int, n: int = 0) -> str:
        h = self._run_sha1.copy()
        h.update(f"{kind}/{entity}/{n}".encode())
        d = bytearray(h.digest()[:16])
        d[6] = (d[6] & 0x0F) | 0x50  # version 5
        d[8] = (d[8] & 0x3F) | 0x80  # RFC 4122 variant
        x = d.hex()
        return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _unit_code(name: str, pool: ResourcePool) -> str:
    return pool.unit or re.sub(r"[^A-Za-z0-9]+", "-", name).upper()


class Layout:
    """Everything static the writers need, indexed the way the trace indexes things."""

    def __init__(self, defn: TwinDefinition, trace: Trace, ids: Ids) -> None:
        pools = [defn.resources[name] for name in trace.resource_names]
        n_res = len(pools)
        self.places: list[Place] = []
        self.assets: list[Asset] = []
        self.res_class: list[str | None] = [None] * n_res  # EMER/IMP for location pools
        self.res_is_device = [p.kind == ResourceKind.device for p in pools]
        self.order_suffix = [n.removesuffix("_bed") for n in trace.resource_names]
        self.beds: list[list[Place]] = [[] for _ in range(n_res)]
        self.devices: list[list[Asset]] = [[] for _ in range(n_res)]
        self.device_label = [p.label or n for n, p in zip(trace.resource_names, pools, strict=True)]
        self.device_unit = [
            _unit_code(n, p) for n, p in zip(trace.resource_names, pools, strict=True)
        ]

        units: dict[str, Place] = {}
        capacity: dict[str, int] = {}
        for name, pool in zip(trace.resource_names, pools, strict=True):
            if pool.kind in _LOCATION_KINDS:
                code = _unit_code(name, pool)
                capacity[code] = capacity.get(code, 0) + pool.capacity
                if code not in units:
                    units[code] = Place(
                        code, ids.site_id("Location", code), pool.label or code, "wa"
                    )
        self.places.extend(units.values())
        numbered: dict[str, int] = {}
        for r, (name, pool) in enumerate(zip(trace.resource_names, pools, strict=True)):
            if pool.kind not in _LOCATION_KINDS:
                continue
            code = _unit_code(name, pool)
            width = max(2, len(str(capacity[code])))
            self.res_class[r] = EMER if pool.kind == ResourceKind.treatment_space else IMP
            for _ in range(pool.capacity):
                numbered[code] = numbered.get(code, 0) + 1
                ident = f"{code}-{numbered[code]:0{width}d}"
                bed = Place(ident, ids.site_id("Location", ident), ident, "bd", units[code].id)
                self.beds[r].append(bed)
            self.places.extend(self.beds[r])

        res_index = {n: i for i, n in enumerate(trace.resource_names)}
        self.waiting: list[Place | None] = [None] * len(trace.pathway_names)
        self.entry_class: list[str | None] = [None] * len(trace.pathway_names)
        entry_unit: dict[str, str] = {}  # pathway -> unit code of its entry location pool
        areas: dict[str, Place] = {}
        for pi, pname in enumerate(trace.pathway_names):
            entry = defn.pathways[pname].steps[0]
            loc = [a for a in entry.acquire if pools[res_index[a]].kind in _LOCATION_KINDS]
            if not loc:
                continue
            code = _unit_code(loc[0], defn.resources[loc[0]])
            entry_unit[pname] = code
            self.entry_class[pi] = self.res_class[res_index[loc[0]]]
            feeds = [a for a in defn.arrivals.values() if a.pathway == pname]
            emergency = any(isinstance(a, PoissonArrivals) for a in feeds)
            ident = f"{code}-{'WAIT' if emergency or not feeds else 'LOUNGE'}"
            if ident not in areas:
                label = "waiting room" if ident.endswith("WAIT") else "admission lounge"
                areas[ident] = Place(
                    ident, ids.site_id("Location", ident), f"{code} {label}", "area", units[code].id
                )
            self.waiting[pi] = areas[ident]
        self.places.extend(areas.values())

        # Steps: which device / location pool each acquires (-1 when none).
        self.step_device = [-1] * len(trace.step_names)
        self.step_bed = [-1] * len(trace.step_names)
        device_home: dict[int, str] = {}
        for si, sname in enumerate(trace.step_names):
            pname, _, step_id = sname.partition(".")
            for res in defn.pathways[pname].step(step_id).acquire:
                r = res_index[res]
                if self.res_is_device[r] and self.step_device[si] < 0:
                    self.step_device[si] = r
                    if pname in entry_unit:
                        device_home.setdefault(r, entry_unit[pname])
                elif self.res_class[r] is not None and self.step_bed[si] < 0:
                    self.step_bed[si] = r
        for r, (name, pool) in enumerate(zip(trace.resource_names, pools, strict=True)):
            if not self.res_is_device[r]:
                continue
            code = _unit_code(name, pool)
            home = units.get(device_home.get(r, ""))
            for u in range(pool.capacity):
                ident = f"{code}-{u + 1}"
                asset = Asset(
                    ident,
                    ids.site_id("Device", ident),
                    code,
                    pool.label or code,
                    home.id if home else None,
                )
                self.devices[r].append(asset)
            self.assets.extend(self.devices[r])

    def device_order_code(self, r: int) -> str:
        """The ServiceRequest code of an order for device pool ``r`` (RH1: ``ct``)."""
        return self.device_unit[r].lower()

    def bed_order_code(self, r: int, from_class: str | None) -> str:
        """``admit-<pool>`` from an emergency setting into an inpatient pool, else ``transfer-``."""
        verb = "admit" if from_class == EMER and self.res_class[r] == IMP else "transfer"
        return f"{verb}-{self.order_suffix[r]}"
