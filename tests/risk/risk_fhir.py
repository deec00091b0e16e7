"""The risk-engine tests' resources: the markers, CRS and lymphodepletion on top of `tests.support.fhir`.

Day numbers are relative to DAY0, the CAR-T infusion date; code systems, DAY0 and the shared codings come from
`tests.support.fhir` so the suites cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import count
from typing import Any

from cds_cyto.core.extract import extract_record
from cds_cyto.core.extract.record import PatientRecord
from cds_cyto.core.profile import Profile, default_profile
from cds_cyto.core.risk import RiskAssessment, assess_risk
from tests.support.fhir import (
    ATC,
    CAR_T,
    ICD10CM,
    LOINC,
    RXNORM,
    UCUM,
    Json,
    day_date,
)

CODE = {
    "neutrophils": (LOINC, "751-8"),
    "hemoglobin": (LOINC, "718-7"),
    "platelets": (LOINC, "777-3"),
    "crp": (LOINC, "1988-5"),
    "ferritin": (LOINC, "2276-4"),
    "il6": (LOINC, "26881-3"),
    "il10": (LOINC, "26848-2"),
    "ifng": (LOINC, "27415-9"),
    "tnfa": (LOINC, "3074-2"),
    "ddimer": (LOINC, "48065-7"),
    "ldh": (LOINC, "2532-0"),
    "temperature": (LOINC, "8310-5"),
    "marrow_blasts": ("urn:cds-cyto:lab", "marrow-blasts"),
}
UNIT = {
    "neutrophils": "10*9/L",
    "platelets": "10*9/L",
    "hemoglobin": "g/L",
    "crp": "mg/L",
    "ferritin": "ng/mL",
    "il6": "pg/mL",
    "il10": "pg/mL",
    "ifng": "pg/mL",
    "tnfa": "pg/mL",
    "ddimer": "ug/mL{FEU}",
    "ldh": "U/L",
    "temperature": "Cel",
    "marrow_blasts": "%",
}

FLUDARABINE = (RXNORM, "24698")
CYCLOPHOSPHAMIDE = (RXNORM, "3002")
TOCILIZUMAB = (ATC, "L04AC07")
DEXAMETHASONE = (RXNORM, "3264")
CRS_GRADE_OBS = ("urn:cds-cyto:obs", "crs-grade")

_ids = count(1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def at(day: int, time: str = "08:00:00") -> str:
    return f"{day_date(day).isoformat()}T{time}Z"


def obs(analyte: str, value: float, day: int, unit: str | None = None, *, time: str = "08:00:00") -> Json:
    system, code = CODE[analyte]
    u = unit or UNIT[analyte]
    return {
        "resourceType": "Observation",
        "id": _id(analyte),
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": at(day, time),
        "valueQuantity": {"value": value, "unit": u, "system": UCUM, "code": u},
    }


def crs_grade(grade: int, day: int) -> Json:
    system, code = CRS_GRADE_OBS
    return {
        "resourceType": "Observation",
        "id": _id("crsg"),
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": at(day, "12:00:00"),
        "valueInteger": grade,
    }


def crs_condition(grade: int | None, onset: int | None, abatement: int | None = None, *, id: str | None = None) -> Json:
    code = {None: "D89.839", 1: "D89.831", 2: "D89.832", 3: "D89.833", 4: "D89.834", 5: "D89.835"}[grade]
    res: Json = {
        "resourceType": "Condition",
        "id": id or _id("crs"),
        "code": {"coding": [{"system": ICD10CM, "code": code}]},
        "subject": {"reference": "Patient/p1"},
    }
    if onset is not None:
        res["onsetDateTime"] = at(onset, "14:00:00")
    if abatement is not None:
        res["abatementDateTime"] = at(abatement, "14:00:00")
    return res


def infusion(day: int = 0) -> Json:
    return {
        "resourceType": "Procedure",
        "id": "car-t",
        "status": "completed",
        "code": {"coding": [{"system": CAR_T[0], "code": CAR_T[1]}]},
        "subject": {"reference": "Patient/p1"},
        "performedDateTime": at(day, "10:00:00"),
    }


def med(coding: tuple[str, str], day: int, *, time: str | None = "09:00:00") -> Json:
    """A MedicationAdministration on `day` at `time` (None: the date only)."""
    return {
        "resourceType": "MedicationAdministration",
        "id": _id("med"),
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": coding[0], "code": coding[1]}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": at(day, time) if time is not None else day_date(day).isoformat(),
    }


def bundle(*resources: Json | Iterable[Json]) -> Json:
    flat: list[Any] = []
    for r in resources:
        if isinstance(r, Mapping):
            flat.append(r)
        else:
            flat.extend(r)
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in flat]}


def record_of(*resources: Json | Iterable[Json]) -> PatientRecord:
    return extract_record(bundle(*resources))


def risk_of(
    *resources: Json | Iterable[Json], as_of_day: int = 0, disease: str | None = None, profile: Profile | None = None
) -> RiskAssessment:
    return assess_risk(record_of(*resources), day_date(as_of_day), profile or default_profile(), disease)


def baseline_labs(
    day: int,
    *,
    plt: float | None = 200.0,
    anc: float | None = 2.0,
    hb: float | None = 120.0,
    crp: float | None = 5.0,
    ferritin: float | None = 300.0,
) -> list[Json]:
    """One baseline panel on `day` (canonical units); None leaves a variable out. Defaults score 0."""
    out = []
    for analyte, value in (
        ("platelets", plt),
        ("neutrophils", anc),
        ("hemoglobin", hb),
        ("crp", crp),
        ("ferritin", ferritin),
    ):
        if value is not None:
            out.append(obs(analyte, value, day))
    return out
