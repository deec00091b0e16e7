"""The one builder of test FHIR R4 resources: Observations, Procedures, medication uses, Patients, Bundles.

Everything is plain dicts, exactly what a FHIR server or a bundle file would hand to `extract_record`. Day numbers
are relative to `DAY0` (the CAR-T infusion date used throughout the tests).

A source answers `Readable`s (a dict, a lean lab result, or the place of nobody's resource); tests that know they
got dicts say so through `as_dict`, so a surprise fails with the type it met instead of a KeyError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from cds_cyto.core.extract import NoPatient
from cds_cyto.core.extract.lean import LeanObservation
from cds_cyto.sources import Readable

Json = dict[str, Any]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

DAY0 = date(2024, 3, 1)
PATIENT = "Patient/p1"

# One representative LOINC code per analyte (clinical-reference.md §1).
LOINC_OF = {
    "neutrophils": "751-8",
    "neutrophils_pct": "770-8",
    "hemoglobin": "718-7",
    "hemoglobin_mmol": "59260-0",
    "platelets": "777-3",
    "leukocytes": "6690-2",
    "lymphocytes": "731-0",
    "crp": "1988-5",
    "ferritin": "2276-4",
    "il6": "26881-3",
    "il10": "26848-2",
    "ifng": "27415-9",
    "tnfa": "3074-2",
    "ddimer": "48065-7",  # FEU
    "ddimer_ddu": "48066-5",
    "ldh": "2532-0",
    "fibrinogen": "3255-7",
    "temperature": "8310-5",
}

# The canonical unit per analyte, as the engine reports it.
CANONICAL_UNIT = {
    "neutrophils": "10*9/L",
    "hemoglobin": "g/L",
    "platelets": "10*9/L",
    "leukocytes": "10*9/L",
    "lymphocytes": "10*9/L",
}

# Accepted units (clinical-reference.md §1) and how many of each make one canonical unit.
COUNT_UNITS = {
    "10*9/L": "1",
    "10*3/uL": "1",
    "10^9/L": "1",  # an alias (not UCUM), as is K/uL and G/L
    "K/uL": "1",
    "G/L": "1",
    "/nL": "1",
    "/uL": "1000",
    "/mm3": "1000",
    "{cells}/uL": "1000",
}
HB_UNITS = {"g/L": "1", "g/dL": "0.1"}
UNITS = {
    "neutrophils": COUNT_UNITS,
    "platelets": COUNT_UNITS,
    "leukocytes": COUNT_UNITS,
    "lymphocytes": COUNT_UNITS,
    "hemoglobin": HB_UNITS,
}


def in_unit(value: float, per_canonical: str) -> float:
    """The canonical value written in another unit, exactly as a lab would print it (no float noise)."""
    return float(Decimal(str(value)) * Decimal(per_canonical))


# Event codes (clinical-reference.md §9).
CAR_T = (SNOMED, "1156961008")
RBC_TRANSFUSION = (SNOMED, "116863004")
PLATELET_TRANSFUSION = (SNOMED, "12719002")
BLOOD_PRODUCT = (SNOMED, "116859006")
FILGRASTIM = (ATC, "L03AA02")

_ids = count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def day_date(day: int) -> date:
    return DAY0 + timedelta(days=day)


def at(day: int, time: str = "08:00:00", tz: str = "Z") -> str:
    """A FHIR dateTime on study day `day`, written with its own offset `tz`."""
    return f"{day_date(day).isoformat()}T{time}{tz}"


def qty(
    value: Any,
    unit: str | None,
    *,
    ucum: bool = True,
    comparator: str | None = None,
) -> Json:
    """A Quantity. `ucum=True` writes the unit as a UCUM code; otherwise only as free text in `unit`."""
    q: Json = {"value": value}
    if unit is not None:
        q["unit"] = unit
        if ucum:
            q["system"] = UCUM
            q["code"] = unit
    if comparator is not None:
        q["comparator"] = comparator
    return q


def obs(
    analyte: str,
    value: Any,
    unit: str | None,
    *,
    when: str | None = None,
    day: int | None = None,
    id: str | None = None,
    status: str = "final",
    ucum: bool = True,
    comparator: str | None = None,
    low: float | None = None,
    low_unit: str | None = None,
    quantity: Json | None = None,
    code: tuple[str, str] | None = None,
) -> Json:
    """A laboratory Observation for `analyte` (a key of LOINC_OF) on study day `day` (or at `when`)."""
    if when is None:
        when = at(0 if day is None else day)
    system, code_value = code if code is not None else (LOINC, LOINC_OF[analyte])
    res: Json = {
        "resourceType": "Observation",
        "id": id or _next_id(analyte),
        "status": status,
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": system, "code": code_value}]},
        "subject": {"reference": PATIENT},
        "effectiveDateTime": when,
        "valueQuantity": quantity if quantity is not None else qty(value, unit, ucum=ucum, comparator=comparator),
    }
    if low is not None:
        res["referenceRange"] = [{"low": qty(low, low_unit or unit, ucum=ucum)}]
    return res


def procedure(
    coding: tuple[str, str],
    day: int,
    *,
    id: str | None = None,
    status: str = "completed",
    time: str | None = "10:00:00",
) -> Json:
    """A Procedure on study day `day` at `time` (None: the date only)."""
    system, code = coding
    return {
        "resourceType": "Procedure",
        "id": id or _next_id("proc"),
        "status": status,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": PATIENT},
        "performedDateTime": at(day, time) if time is not None else day_date(day).isoformat(),
    }


def transfusion(coding: tuple[str, str], day: int, time: str | None = "10:00:00") -> Json:
    """A transfusion Procedure (RBC_TRANSFUSION, PLATELET_TRANSFUSION, BLOOD_PRODUCT) on `day` at `time`."""
    return procedure(coding, day, time=time)


def crs_condition(grade: int | None, onset: int, abatement: int | None = None) -> Json:
    """CRS as an ICD-10-CM D89.83x Condition (grade None: D89.839, unspecified) from `onset` to `abatement`."""
    code = {None: "D89.839", 1: "D89.831", 2: "D89.832", 3: "D89.833", 4: "D89.834", 5: "D89.835"}[grade]
    res: Json = {
        "resourceType": "Condition",
        "id": _next_id("crs"),
        "code": {"coding": [{"system": ICD10CM, "code": code}]},
        "subject": {"reference": PATIENT},
        "onsetDateTime": at(onset, "14:00:00"),
    }
    if abatement is not None:
        res["abatementDateTime"] = at(abatement, "14:00:00")
    return res


# A site's charted daily ASTCT CRS grade (codes.toml [crs] grade_observation_codes).
CRS_GRADE_OBS = ("urn:cds-cyto:obs", "crs-grade")


def crs_grade(grade: int, day: int) -> Json:
    """A daily CRS grade Observation (valueInteger) on `day` at noon."""
    system, code = CRS_GRADE_OBS
    return {
        "resourceType": "Observation",
        "id": _next_id("crsg"),
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": PATIENT},
        "effectiveDateTime": at(day, "12:00:00"),
        "valueInteger": grade,
    }


# CAR-HEMATOTOX inputs (clinical-reference.md §5) in their LOINC-coded units; `baseline_panel` defaults score 0.
_BASELINE_UNITS = {
    "platelets": "10*9/L",
    "neutrophils": "10*9/L",
    "hemoglobin": "g/L",
    "crp": "mg/L",
    "ferritin": "ng/mL",
}


def baseline_panel(
    day: int = -4, *, plt: float = 200.0, anc: float = 2.0, hb: float = 120.0, crp: float = 5.0, ferritin: float = 300.0
) -> list[Json]:
    """The five CAR-HEMATOTOX variables on `day` (default −4: inside days −14 to −3 when lymphodepletion is not
    recorded). `baseline_panel(plt=100, anc=1.0)` scores 2, high risk."""
    values = {"platelets": plt, "neutrophils": anc, "hemoglobin": hb, "crp": crp, "ferritin": ferritin}
    return [obs(analyte, v, _BASELINE_UNITS[analyte], day=day) for analyte, v in values.items()]


def infusion(day: int = 0, *, id: str = "car-t-infusion", when: str | None = None) -> Json:
    res = procedure(CAR_T, day, id=id)
    if when is not None:
        res["performedDateTime"] = when
    return res


def infusion_of(pid: str, day0: date) -> Json:
    """The CAR-T infusion of patient `pid` on `day0`, for tests of several patients with their own day 0."""
    system, code = CAR_T
    return {
        "resourceType": "Procedure",
        "id": f"{pid}-cart",
        "status": "completed",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "performedDateTime": day0.isoformat(),
    }


def med_admin(
    coding: tuple[str, str], day: int, *, id: str | None = None, status: str = "completed", time: str = "09:00:00"
) -> Json:
    system, code = coding
    return {
        "resourceType": "MedicationAdministration",
        "id": id or _next_id("med"),
        "status": status,
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": PATIENT},
        "effectiveDateTime": at(day, time),
    }


def patient(gender: str | None = None, *, id: str = "p1") -> Json:
    res: Json = {"resourceType": "Patient", "id": id}
    if gender is not None:
        res["gender"] = gender
    return res


def bundle(*resources: Json | Iterable[Json], id: str | None = None) -> Json:
    """A collection Bundle; arguments may be resources or iterables of resources."""
    flat: list[Any] = []
    for r in resources:
        if isinstance(r, Mapping):
            flat.append(r)
        else:
            flat.extend(r)
    out: Json = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in flat]}
    if id is not None:
        out["id"] = id
    return out


def series(analyte: str, values: Iterable[tuple[int, float]], unit: str, **kw: Any) -> list[Json]:
    """One Observation per (day, value)."""
    return [obs(analyte, v, unit, day=d, **kw) for d, v in values]


# ---- what a FHIR server answers --------------------------------------------------------------------------------


def search_bundle(*resources: dict[str, Any], next_url: str | None = None, kind: str = "searchset") -> dict[str, Any]:
    """A searchset (or `kind`) Bundle of `resources`, with a next link when `next_url` is given."""
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": r} for r in resources],
    }
    if next_url is not None:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


def bare_observation(oid: str, patient: str = "p1") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "subject": {"reference": f"Patient/{patient}"}}


def operation_outcome(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }


# ---- reading resources back -------------------------------------------------------------------------------------


def as_dict(resource: Readable) -> dict[str, Any]:
    assert isinstance(resource, dict), f"expected a JSON resource, got {type(resource).__name__}"
    return resource


def resource_id(resource: Readable) -> str | None:
    if isinstance(resource, LeanObservation):
        return resource.id
    return as_dict(resource).get("id")


def resource_ids(resources: Iterable[Readable]) -> list[str | None]:
    return [resource_id(r) for r in resources]


def present(resource: Readable) -> dict[str, Any] | LeanObservation:
    """A resource that is somebody's: a source of one patient never answers the place of nobody's resource."""
    assert not isinstance(resource, NoPatient), f"unexpected {resource!r}"
    return resource
