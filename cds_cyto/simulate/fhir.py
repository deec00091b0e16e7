"""FHIR R4 resources as plain dicts, built directly (the hot path: no model classes here).

Conventions are those the extraction engine reads (see the project brief and clinical-reference.md §1, §6, §9):
LOINC-coded Observations with UCUM quantities and explicit UTC offsets, SNOMED Procedures for the CAR-T infusion
and transfusions, RxNorm/ATC MedicationAdministrations, an ICD-10-CM D89.83x Condition for CRS. Ids are
deterministic (`<patient-id>-obs-<n>`, ...), so loading the same bundle twice is idempotent.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from cds_cyto.simulate.catalogue import (
    CAR_T_SNOMED,
    CATEGORY_SYSTEM,
    CRS_CONDITION,
    MEDICATIONS,
    PLATELET_TX_SNOMED,
    RBC_TX_SNOMED,
    UCUM,
    Coding,
)
from cds_cyto.simulate.latent import CrsCourse
from cds_cyto.simulate.mess import Charted
from cds_cyto.simulate.trajectories import Event

__all__ = ["Resource", "ResourceFactory"]

Resource = dict[str, Any]

_CATEGORIES: dict[str, list[dict[str, Any]]] = {
    code: [{"coding": [{"system": CATEGORY_SYSTEM, "code": code, "display": display}]}]
    for code, display in (("laboratory", "Laboratory"), ("vital-signs", "Vital Signs"), ("exam", "Exam"))
}
_PROCEDURES = {
    "car_t_infusion": CAR_T_SNOMED,
    "rbc_transfusion": RBC_TX_SNOMED,
    "platelet_transfusion": PLATELET_TX_SNOMED,
}
_ID_PART = {
    "car_t_infusion": "cart",
    "rbc_transfusion": "rbc",
    "platelet_transfusion": "pltx",
    "fludarabine": "flu",
    "cyclophosphamide": "cy",
    "tocilizumab": "toci",
    "dexamethasone": "dex",
    "gcsf": "gcsf",
}


def _concept(coding: Coding) -> dict[str, Any]:
    return {"coding": [{"system": coding.system, "code": coding.code, "display": coding.display}]}


class ResourceFactory:
    """Builds one patient's resources. Shared sub-objects (codes, subject) are reused: they are never mutated."""

    def __init__(self, patient_id: str, infusion_date: date, utc_offset: str) -> None:
        self.patient_id = patient_id
        self.subject = {"reference": f"Patient/{patient_id}"}
        self._infusion = infusion_date
        self._offset = utc_offset
        self._dates: dict[int, str] = {}
        self._codes: dict[Coding, dict[str, Any]] = {}
        self._quantities: dict[tuple[float, str | None, str | None], dict[str, Any]] = {}

    def timestamp(self, day: int, minute: int) -> str:
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = (self._infusion + timedelta(days=day)).isoformat()
        return f"{text}T{minute // 60:02d}:{minute % 60:02d}:00{self._offset}"

    def _code(self, coding: Coding) -> dict[str, Any]:
        found = self._codes.get(coding)
        if found is None:
            found = self._codes[coding] = _concept(coding)
        return found

    def _quantity(self, value: float, unit: str | None, ucum: str | None) -> dict[str, Any]:
        key = (value, unit, ucum)
        found = self._quantities.get(key)
        if found is None:
            q: dict[str, Any] = {"value": value}
            if unit is not None:
                q["unit"] = unit
            if ucum is not None:
                q["system"] = UCUM
                q["code"] = ucum
            found = self._quantities[key] = q
        return found

    def patient(self, sex: str, birth_date: date, died: date | None = None) -> Resource:
        death = {} if died is None else {"deceasedDateTime": died.isoformat()}
        return {
            "resourceType": "Patient",
            "id": self.patient_id,
            "meta": {
                "tag": [
                    {
                        "system": "urn:cds-cyto:synthetic",
                        "code": "synthetic",
                        "display": "Synthetic patient (cds-cyto simulate)",
                    }
                ]
            },
            "gender": sex,
            "birthDate": birth_date.isoformat(),
            **death,
        }

    def observation(self, c: Charted) -> Resource:
        if c.analyte == "crs_grade":
            category = "exam"
        elif c.analyte == "temperature":
            category = "vital-signs"
        else:
            category = "laboratory"
        res: Resource = {
            "resourceType": "Observation",
            "id": c.id,
            "status": c.status,
            "category": _CATEGORIES[category],
            "code": self._code(c.coding),
            "subject": self.subject,
            "effectiveDateTime": self.timestamp(c.day, c.minute),
        }
        if c.integer:
            res["valueInteger"] = int(c.value)
            return res
        quantity: dict[str, Any] = {"value": c.value}
        if c.unit is not None:
            quantity["unit"] = c.unit
        if c.ucum is not None:
            quantity["system"] = UCUM
            quantity["code"] = c.ucum
        res["valueQuantity"] = quantity
        if c.ref is not None:
            res["referenceRange"] = [
                {"low": self._quantity(c.ref[0], c.unit, c.ucum), "high": self._quantity(c.ref[1], c.unit, c.ucum)}
            ]
        return res

    def event(self, e: Event, ordinal: int) -> Resource:
        rid = f"{self.patient_id}-{_ID_PART[e.kind]}-{ordinal}"
        when = self.timestamp(e.day, e.minute)
        if e.kind in _PROCEDURES:
            res: Resource = {
                "resourceType": "Procedure",
                "id": rid,
                "status": "completed",
                "code": self._code(_PROCEDURES[e.kind]),
                "subject": self.subject,
                "performedDateTime": when,
            }
            if e.units > 1:
                res["note"] = [{"text": f"{e.units} units"}]
            return res
        return {
            "resourceType": "MedicationAdministration",
            "id": rid,
            "status": "completed",
            "medicationCodeableConcept": self._code(MEDICATIONS[e.kind]),
            "subject": self.subject,
            "effectiveDateTime": when,
        }

    def crs_condition(self, crs: CrsCourse, cut_day: int | None) -> Resource | None:
        """The CRS Condition as charted at the data cut (None if CRS has not started by then)."""
        if crs.onset_day is None or crs.recovery_day is None or (cut_day is not None and crs.onset_day > cut_day):
            return None
        resolved = cut_day is None or crs.recovery_day <= cut_day
        grades = crs.daily_grades if resolved or cut_day is None else crs.daily_grades[: cut_day - crs.onset_day + 1]
        res: Resource = {
            "resourceType": "Condition",
            "id": f"{self.patient_id}-crs",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "resolved" if resolved else "active",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": self._code(CRS_CONDITION[max(grades)]),
            "subject": self.subject,
            "onsetDateTime": self.timestamp(crs.onset_day, 12 * 60),
        }
        if resolved:
            res["abatementDateTime"] = self.timestamp(crs.recovery_day, 12 * 60)
        return res
