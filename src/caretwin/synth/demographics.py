"""Synthetic patient demographics: names, gender, birth date, address and MRN.

Everything is drawn up front, vectorised, for patient numbers ``0..n-1`` from one numpy
``Generator`` whose ``SeedSequence`` is the run seed with a spawn key of its own. Why a spawn key
and not the engine's streams: the demographics must never shift a single number the engine draws
(the data would then no longer be the model's ground truth), and keying by patient number rather
than by the order patients are written makes a patient's identity independent of the window
requested. The name lists are small and obviously fictional on purpose: nobody should mistake
this data for a real person's record.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

# A spawn key no engine stream uses (the engine keys streams by (replication, purpose, index)).
DEMOGRAPHICS_SPAWN_KEY = (0x5359_4E54,)  # "SYNT"

# fmt: off
GIVEN_FEMALE = (
    "Ada", "Beatrix", "Clara", "Dalia", "Edith", "Fiona", "Greta", "Hana", "Ines", "Julia",
    "Kira", "Lena", "Maya", "Nora", "Olga", "Paula", "Rosa", "Sara", "Tessa", "Vera",
)
GIVEN_MALE = (
    "Aaron", "Bruno", "Carl", "Dario", "Emil", "Felix", "Gustav", "Hugo", "Ivan", "Jonas",
    "Karl", "Leon", "Milo", "Nils", "Oscar", "Pavel", "Rafael", "Simon", "Tomas", "Viktor",
)
FAMILY = (
    "Abbott", "Baker", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quinn", "Rossi",
    "Schmidt", "Tanaka", "Urban", "Varga", "Weber", "Yilmaz", "Zimmermann", "Nakamura",
)
STREETS = (
    "Oak Street", "Maple Avenue", "Station Road", "Mill Lane", "Church Street", "Park Road",
    "River Walk", "Hill Crescent", "Market Square", "Elm Grove", "Harbour View", "North Street",
)
# Fictional towns; a town's postal codes start with 10 + its position in this list.
CITIES = ("Northbridge", "Eastfield", "Southmoor", "Westbury", "Lakeside", "Greenhaven")
# fmt: on


class Demographics:
    """Demographics of patients ``0..n-1``; :meth:`patient` renders one as a FHIR Patient."""

    def __init__(self, n: int, seed: int, reference_date: date) -> None:
        ss = np.random.SeedSequence(seed, spawn_key=DEMOGRAPHICS_SPAWN_KEY)
        rng = np.random.Generator(np.random.PCG64(ss))
        n = max(n, 0)
        self._female = (rng.random(n) < 0.5).tolist()
        self._given = rng.integers(0, len(GIVEN_FEMALE), n).tolist()
        self._family = rng.integers(0, len(FAMILY), n).tolist()
        # Adult-heavy ages, as in an acute hospital: mean 52, clipped to 0..99 years.
        age_days = np.clip(rng.normal(52.0, 21.0, n), 0.0, 99.9) * 365.25
        self._age_days = age_days.astype(np.int64).tolist()
        self._house = rng.integers(1, 200, n).tolist()
        self._street = rng.integers(0, len(STREETS), n).tolist()
        self._city = rng.integers(0, len(CITIES), n).tolist()
        self._postcode = rng.integers(0, 1000, n).tolist()
        self._reference = reference_date

    def patient(self, entity: int, patient_id: str) -> dict[str, Any]:
        """The FHIR Patient for patient number ``entity``."""
        female = self._female[entity]
        given = (GIVEN_FEMALE if female else GIVEN_MALE)[self._given[entity]]
        family = FAMILY[self._family[entity]]
        birth = self._reference - timedelta(days=self._age_days[entity])
        city = self._city[entity]
        return {
            "resourceType": "Patient",
            "id": patient_id,
            "identifier": [{"system": "urn:caretwin:mrn", "value": f"M{entity + 1:08d}"}],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": "female" if female else "male",
            "birthDate": birth.isoformat(),
            "address": [
                {
                    "use": "home",
                    "line": [f"{self._house[entity]} {STREETS[self._street[entity]]}"],
                    "city": CITIES[city],
                    "postalCode": f"{10 + city}{self._postcode[entity]:03d}",
                    "country": "XX",
                }
            ],
        }
