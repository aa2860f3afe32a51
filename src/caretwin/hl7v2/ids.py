"""Deterministic lake ids for what ADT messages name: patients, encounters, locations.

Patient and encounter ids are pseudonyms: ``v2pat-``/``v2enc-`` and the first 16 hex digits of
a sha256 over the identifier and its assigning authority. MRNs and visit numbers are
identifiers of a person (HIPAA counts both), so ids derived from them openly would carry PHI
into logs, ACKs and audit details; the MRN itself still lands in ``patients.mrn`` like the FHIR
path's. With 64 bits the chance of any collision stays below one in a million up to six million
ids, far beyond a hospital's yearly visits.

Location ids hash the facility, point of care, room and bed (``v2loc-``), so one bed is one
Location whichever message names it. Locations are not PHI; their identifiers stay readable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

_SEP = "\x1f"  # unit separator: cannot occur in a decoded HL7 value


def _digest(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256(_SEP.join(parts).encode()).hexdigest()[:16]


def patient_id(authority: str, mrn: str) -> str:
    return _digest("v2pat-", authority, mrn)


def encounter_id(authority: str, visit: str) -> str:
    return _digest("v2enc-", authority, visit)


@dataclass(frozen=True, slots=True)
class PointOfCare:
    """A PV1-3/PV1-6 person location (PL): facility, point of care (unit), room, bed."""

    facility: str
    unit: str
    room: str
    bed: str

    @property
    def empty(self) -> bool:
        return not (self.unit or self.room or self.bed)

    def unit_id(self) -> str:
        return _digest("v2loc-", self.facility, self.unit)

    def location_id(self) -> str:
        """The most specific place named: the bed, else the room, else the unit."""
        if not (self.room or self.bed):
            return self.unit_id()
        return _digest("v2loc-", self.facility, self.unit, self.room, self.bed)

    def identifier(self) -> str:
        """Readable identifier of the most specific place, e.g. ``4E-136-B``."""
        return "-".join(p for p in (self.unit, self.room, self.bed) if p)

    def rows(self) -> list[dict[str, Any]]:
        """``locations`` rows: the unit (``wa``) and, if named, the bed (``bd``) or room (``ro``).

        A bed is ``partOf`` its unit directly (the contract's convention: a unit's bed count is
        its capacity); the room is part of the bed's identifier and name, not a level between.
        """
        unit = {
            "location_id": self.unit_id(),
            "identifier": self.unit or None,
            "name": self.unit or None,
            "physical_type": "wa",
            "part_of": None,
            "status": "active",
        }
        if not (self.room or self.bed):
            return [unit]
        place = {
            "location_id": self.location_id(),
            "identifier": self.identifier(),
            "name": " ".join(p for p in (self.room, self.bed) if p),
            "physical_type": "bd" if self.bed else "ro",
            "part_of": unit["location_id"],
            "status": "active",
        }
        return [unit, place]
