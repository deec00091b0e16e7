"""Small FHIR scenarios for service tests: a patient, an infusion and a few blood counts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.support.fhir import CANONICAL_UNIT as UNITS
from tests.support.fhir import LOINC_OF as LOINC
from tests.support.fhir import infusion_of

DAY0 = date(2026, 3, 1)


def patient(pid: str = "pt-1", gender: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": "1970-01-01"}


def infusion(pid: str = "pt-1", day0: date = DAY0) -> dict[str, Any]:
    return infusion_of(pid, day0)


def count(pid: str, analyte: str, day: int, value: float, n: int = 0, day0: date = DAY0) -> dict[str, Any]:
    unit = UNITS[analyte]
    return {
        "resourceType": "Observation",
        "id": f"{pid}-{analyte[:3]}-{day + 100}-{n}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": LOINC[analyte]}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"{day0 + timedelta(days=day)}T08:00:00+01:00",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def cytopenic_patient(
    pid: str = "pt-1", anc: float = 0.3, hb: float = 55.0, plt: float = 15.0, day: int = 7
) -> list[dict[str, Any]]:
    """Baseline counts on day −3, then the given values on `day` (the evaluation day)."""
    return [
        patient(pid),
        infusion(pid),
        count(pid, "neutrophils", -3, 2.5),
        count(pid, "hemoglobin", -3, 105.0),
        count(pid, "platelets", -3, 140.0),
        count(pid, "neutrophils", day, anc),
        count(pid, "hemoglobin", day, hb),
        count(pid, "platelets", day, plt),
    ]


def prefetch_for(resources: list[dict[str, Any]]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    return {
        "patient": by_type["Patient"][0],
        "observations": searchset(by_type.get("Observation", [])),
        "procedures": searchset(by_type.get("Procedure", [])),
        "conditions": searchset(by_type.get("Condition", [])),
        "medicationAdministrations": searchset(by_type.get("MedicationAdministration", [])),
        "medicationStatements": searchset(by_type.get("MedicationStatement", [])),
    }


def hook_request(pid: str = "pt-1", prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": pid},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


FILGRASTIM = {"coding": [{"system": "http://www.whocc.no/atc", "code": "L03AA02", "display": "filgrastim"}]}


def filgrastim(mid: str = "filgrastim") -> dict[str, Any]:
    """A Medication resource for filgrastim (no subject: whoever references it)."""
    return {"resourceType": "Medication", "id": mid, "code": FILGRASTIM}


def gcsf_by_reference(pid: str, days: range, reference: str = "Medication/filgrastim") -> list[dict[str, Any]]:
    """Daily filgrastim administrations that name their drug only by `medicationReference` (as Epic and Cerner
    send them)."""
    return [
        {
            "resourceType": "MedicationAdministration",
            "id": f"{pid}-gcsf-{day}",
            "status": "completed",
            "medicationReference": {"reference": reference},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": f"{DAY0 + timedelta(days=day)}T09:00:00+01:00",
        }
        for day in days
    ]
