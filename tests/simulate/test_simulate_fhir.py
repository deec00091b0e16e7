"""Generated resources are valid FHIR (checked with fhir.resources R4B) and follow the engine's conventions."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure

from cds_cyto.simulate import SimulatedPatient, dense_patient, transaction_bundle
from cds_cyto.simulate.catalogue import ANALYTES, CRS_CONDITION

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
MODELS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Patient": Patient.model_validate,
    "Procedure": Procedure.model_validate,
    "MedicationAdministration": MedicationAdministration.model_validate,
    "Condition": Condition.model_validate,
    "Observation": Observation.model_validate,
}


def variety(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every non-Observation, and one Observation per (code, status, unit, value type)."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for r in resources:
        if r["resourceType"] == "Observation":
            q = r.get("valueQuantity", {})
            key = (r["code"]["coding"][0]["code"], r["status"], q.get("unit"), "valueInteger" in r)
            if key in seen:
                continue
            seen.add(key)
        out.append(r)
    return out


def test_a_sample_of_every_kind_validates_with_r4b_models(heavy_patients: list[SimulatedPatient]) -> None:
    checked: set[str] = set()
    for p in heavy_patients:
        for r in variety(p.resources()):
            MODELS[r["resourceType"]](r)
            checked.add(r["resourceType"])
    assert checked == set(MODELS)


def test_a_whole_transaction_bundle_validates(cut_patients: list[SimulatedPatient]) -> None:
    patient = min(cut_patients, key=lambda p: len(p.charted))  # a mid-course patient: small and quick
    bundle = Bundle.model_validate(transaction_bundle(patient.resources()))
    assert bundle.type == "transaction"
    assert bundle.entry is not None
    assert all(e.request is not None and e.request.method == "PUT" for e in bundle.entry)


def test_ids_references_requests_and_timestamps(heavy_patients: list[SimulatedPatient]) -> None:
    for p in heavy_patients:
        resources = p.resources()
        ids = [r["id"] for r in resources]
        assert len(ids) == len(set(ids))
        assert resources[0]["id"] == p.plan.patient_id
        for entry in transaction_bundle(resources)["entry"]:
            r = entry["resource"]
            assert FHIR_ID.match(r["id"]) and r["id"].startswith(p.plan.patient_id)
            assert entry["request"] == {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
            if r["resourceType"] != "Patient":
                assert r["subject"] == {"reference": f"Patient/{p.plan.patient_id}"}
            for key in ("effectiveDateTime", "performedDateTime", "onsetDateTime", "abatementDateTime"):
                if key in r:
                    assert WITH_OFFSET.match(r[key]) and r[key].endswith(p.plan.utc_offset)


def test_codes_follow_the_engine_conventions(clean_patients: list[SimulatedPatient]) -> None:
    lab_codes = {spec.coding.code for spec in ANALYTES.values()}
    for p in clean_patients:
        resources = p.resources()
        by_type: dict[str, list[dict[str, Any]]] = {}
        for r in resources:
            by_type.setdefault(r["resourceType"], []).append(r)
        infusions = [r for r in by_type["Procedure"] if r["code"]["coding"][0]["code"] == "1156961008"]
        assert len(infusions) == 1
        assert infusions[0]["performedDateTime"].startswith(p.plan.infusion_date.isoformat())
        ld = {
            (
                r["medicationCodeableConcept"]["coding"][0]["code"],
                (date.fromisoformat(r["effectiveDateTime"][:10]) - p.plan.infusion_date).days,
            )
            for r in by_type["MedicationAdministration"]
            if r["medicationCodeableConcept"]["coding"][0]["code"] in ("24698", "3002")
        }
        expected = (
            {("24698", d) for d in (-4, -3, -2)} | {("3002", d) for d in (-3, -2)}
            if p.plan.disease == "all"
            else {("24698", d) for d in (-5, -4, -3)} | {("3002", -5)}
        )
        assert ld == expected
        for r in by_type["Observation"]:
            coding = r["code"]["coding"][0]
            category = r["category"][0]["coding"][0]["code"]
            if coding["system"] == "http://loinc.org":
                assert coding["code"] in lab_codes
                assert category == ("vital-signs" if coding["code"] == "8310-5" else "laboratory")
            if coding["code"] in ("751-8", "718-7", "777-3", "6690-2", "731-0", "770-8"):
                ref = r["referenceRange"][0]
                assert ref["low"]["code"] == ref["high"]["code"] == r["valueQuantity"]["code"]
        grade = p.truth["crs"]["max_grade"]
        conditions = by_type.get("Condition", [])
        assert [c["code"]["coding"][0]["code"] for c in conditions] == ([CRS_CONDITION[grade].code] if grade else [])


def test_a_typical_patient_has_800_to_1500_observations(clean_patients: list[SimulatedPatient]) -> None:
    for p in clean_patients:
        assert 700 <= len(p.charted) <= 1500, len(p.charted)


def test_the_dense_benchmark_patient_has_about_1500_observations() -> None:
    p = dense_patient("all")
    assert 1400 <= len(p.charted) <= 1600
