"""HL7 v2 code tables mapped to the FHIR codes the lake holds (docs/hl7v2.md lists them).

The targets are the codes the FHIR path stores, so calibration finds the same values whichever
way an encounter arrived: ``class_code`` in v3 ActCode (the HL7 v2-to-FHIR IG's PatientClass
map), ``admit_source`` and ``discharge_disposition`` in the FHIR R4 ``admit-source`` and
``discharge-disposition`` code systems. A code with no clear FHIR equivalent is kept as sent
(the lake column is a code, and a site-specific value is better kept than guessed); an unknown
patient class is refused, since it decides which pathway an encounter calibrates.
"""

from __future__ import annotations

#: PV1-2 patient class (HL7 table 0004) to v3 ActCode.
PATIENT_CLASS: dict[str, str] = {
    "E": "EMER",  # emergency
    "I": "IMP",  # inpatient
    "O": "AMB",  # outpatient
    "P": "PRENC",  # preadmit
    "R": "AMB",  # recurring patient: repeated outpatient visits
    "B": "IMP",  # obstetrics: admitted to a maternity bed
}

#: PV1-14 admit source (HL7 table 0023) to FHIR admit-source.
ADMIT_SOURCE: dict[str, str] = {
    "1": "gp",  # physician referral
    "2": "outp",  # clinic referral
    "3": "gp",  # HMO referral
    "4": "hosp-trans",  # transfer from a hospital
    "5": "nursing",  # transfer from a skilled nursing facility
    "6": "hosp-trans",  # transfer from another health care facility
    "7": "emd",  # emergency room
    "8": "other",  # court/law enforcement
    "9": "other",  # information not available
}

#: PV1-36 discharge disposition (HL7 table 0112, UB-04 codes) to FHIR discharge-disposition.
DISCHARGE_DISPOSITION: dict[str, str] = {
    "01": "home",  # home or self care
    "02": "other-hcf",  # short-term general hospital
    "03": "snf",  # skilled nursing facility
    "04": "long",  # intermediate care facility
    "05": "other-hcf",  # another type of institution
    "06": "home",  # home under home health care
    "07": "aadvice",  # left against medical advice
    "09": "oth",  # admitted as an inpatient to this hospital
    "20": "exp",  # expired
    "40": "exp",
    "41": "exp",
    "42": "exp",
    "43": "other-hcf",  # federal hospital
    "50": "hosp",  # hospice, home
    "51": "hosp",  # hospice, medical facility
    "61": "long",  # swing bed
    "62": "rehab",  # inpatient rehabilitation facility
    "63": "long",  # long term care hospital
    "64": "snf",  # nursing facility (Medicaid)
    "65": "psy",  # psychiatric hospital
    "66": "other-hcf",  # critical access hospital
}

#: PID-8 administrative sex (HL7 table 0001) to FHIR administrative-gender.
GENDER: dict[str, str] = {
    "M": "male",
    "F": "female",
    "O": "other",
    "A": "other",  # ambiguous
    "N": "other",  # not applicable
    "U": "unknown",
}


def mapped(table: dict[str, str], code: str) -> str | None:
    """``code`` through ``table``; unmapped codes are kept as sent, empty ones are ``None``."""
    if not code:
        return None
    return table.get(code.upper(), table.get(code, code))
