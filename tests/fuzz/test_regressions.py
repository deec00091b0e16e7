"""One example per reader bug the type-mutation fuzzing found (issue 15 item 2), and the hookInstance check
(item 8). Each would have raised — a 500 at the hook, or a result silently lost as `unreadable`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_cyto.core.extract import extract_record, extract_records, unresolved_medication_ids
from cds_cyto.core.extract.events import EventReader
from cds_cyto.core.extract.lean import settle_entries
from cds_cyto.core.extract.observations import ObservationReader
from cds_cyto.core.extract.problems import ProblemLog
from cds_cyto.core.profile import default_profile
from cds_cyto.sources import FhirError, FhirPatientSource, FhirPool
from cds_cyto.sources import _fhir_json as fj
from tests.cds.scenario import count, cytopenic_patient, gcsf_by_reference, hook_request, prefetch_for
from tests.fuzz.cases import serve_mutating_fhir

PROFILE = default_profile()
ANC = count("p1", "neutrophils", 7, 0.3)


def _read_observation(obs: dict[str, Any]) -> list[tuple[str, str]]:
    problems = ProblemLog()
    reader = ObservationReader(PROFILE, problems)
    reader.read(obs, "Observation/x")
    return [(p.code, p.severity) for p in problems.items]


@pytest.mark.parametrize("status", [["final"], {"code": "final"}])
def test_a_status_that_is_no_code_is_unreadable_not_a_crash(status: Any) -> None:
    assert _read_observation({**ANC, "status": status}) == [("unreadable", "warning")]


@pytest.mark.parametrize("coding", [5, True, "x", {"code": "751-8"}])
def test_a_coding_that_is_no_list_is_no_analyte(coding: Any) -> None:
    assert _read_observation({**ANC, "code": {"coding": coding}}) == []


def test_a_comparator_that_is_no_code_is_no_comparator() -> None:
    problems = ProblemLog()
    reader = ObservationReader(PROFILE, problems)
    reader.read({**ANC, "valueQuantity": {**ANC["valueQuantity"], "comparator": ["<"]}}, "Observation/x")
    ((*_, result),) = reader.labs["neutrophils"]
    assert result.censored is None and result.value == 0.3


def test_a_crs_grade_whose_status_is_no_code_is_reported() -> None:
    system, _, code = sorted(PROFILE.crs_grade_observation_codes)[0].partition("|")
    grade = {
        "resourceType": "Observation",
        "status": ["final"],
        "code": {"coding": [{"system": system, "code": code}]},
        "effectiveDateTime": "2026-03-04",
        "valueInteger": 2,
    }
    assert _read_observation(grade) == [("crs-grade-unreadable", "warning")]


@pytest.mark.parametrize("status", [["completed"], {"a": 1}])
def test_a_dose_whose_status_is_no_code_is_not_used_and_said(status: Any) -> None:
    (dose,) = gcsf_by_reference("p1", range(2, 3), reference="#med")
    dose = {**dose, "status": status, "contained": 5, "medicationCodeableConcept": {"coding": [
        {"system": "http://www.whocc.no/atc", "code": "L03AA02"}]}}  # fmt: skip
    problems = ProblemLog()
    events = EventReader(PROFILE, problems)
    events.read_medication_use(dose, "MedicationAdministration/x", "MedicationAdministration")
    assert events.events == [] and [p.code for p in problems.items] == ["unreadable"]
    # unresolved (contained is a number, so "#med" names nothing): reported, whatever the status
    del dose["medicationCodeableConcept"]
    events.read_medication_use(dose, "MedicationAdministration/x", "MedicationAdministration")
    assert [u.source_id for u in events.unresolved] == ["MedicationAdministration/x"]


def test_an_unhashable_reference_beside_a_urn_uuid_is_left_as_it_is() -> None:
    obs = {**ANC, "subject": {"reference": ["Patient/p1"]}}
    (settled,) = settle_entries([("urn:uuid:5d4d4b58-0b0c-4b43-9f43-3b2b1f0f6b6e", obs)])
    assert settled["subject"] == {"reference": ["Patient/p1"]} and settled["id"] == ANC["id"]


@pytest.mark.parametrize("rtype", [["MedicationAdministration"], {"a": 1}])
def test_a_resource_type_that_is_no_string_is_not_a_resource(rtype: Any) -> None:
    resource = {"resourceType": rtype, "id": "x", "medicationReference": {"reference": "Medication/m"}}
    assert unresolved_medication_ids([resource]) == []
    record = extract_record([resource], PROFILE, patient_id="p1")
    assert [p.code for p in record.problems] == ["not-a-resource"]
    assert len(extract_records([resource], PROFILE)) == 1


@pytest.mark.parametrize("element", ["entry", "link", "issue"])
@pytest.mark.parametrize("value", [5, True, 1.5])
def test_bundle_and_outcome_readers_read_no_array_as_none(element: str, value: Any) -> None:
    doc = {"resourceType": "Bundle", element: value}
    assert fj.bundle_resources(doc) == [] and fj.prefetched_searchset(doc) == ([], [])
    assert fj.search_outcomes(doc) == [] and fj.next_link(doc) is None
    assert fj.as_transaction(doc)["entry"] == []
    assert fj.outcome_text({"resourceType": "OperationOutcome", element: value}) is None
    assert not fj.has_error_issue({element: value})


@pytest.mark.parametrize("response", [True, ["404"], "404 Not Found", 4.5])
def test_a_batch_entry_whose_response_is_no_object_is_a_fhir_error(response: Any) -> None:
    """The batch reader (sources/_fhir_source.py) used `entry.get("response", {}).get(...)`: an AttributeError."""

    async def fetch(base: str) -> None:
        async with FhirPool() as pool:
            client = pool.client(base)
            source = FhirPatientSource(client, use_batch=True)
            original = client.batch

            async def batch(bundle: Any) -> Any:
                answer = await original(bundle)
                answer["entry"][1] = {"response": response}  # the Observation search's entry
                return answer

            client.batch = batch  # type: ignore[method-assign]
            await source.patient_resources("pt-1")

    with serve_mutating_fhir() as server, pytest.raises(FhirError):
        asyncio.run(fetch(f"{server.base}/s/8"))  # seed 8: no mutation lands in what this test reads


SERVICE = "/cds-services/cyto-patient-view"


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", 200),
        ("D1577C69-DFBE-44AD-BA6D-3E05E953B2EA", 200),
        ("", 400),
        ("not-a-uuid", 400),
        ("d1577c69dfbe44adba6d3e05e953b2ea", 400),  # the spec's UUID is the hyphenated form
        ("urn:uuid:d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", 400),  # the prefix is the reader's, not the client's
        ("d1577c69-dfbe-44ad-ba6d-3e05e953b2ea\n", 400),
        ("a" * 100_000, 400),
        (5, 400),
        (None, 400),
        (["d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"], 400),
    ],
)
def test_hook_instance_must_be_a_uuid(client: TestClient, value: Any, status: int) -> None:
    body = hook_request(prefetch=prefetch_for(cytopenic_patient()))
    body["hookInstance"] = value
    r = client.post(SERVICE, json=body)
    assert r.status_code == status, r.text[:300]
    if status == 400:
        issue = r.json()["issue"][0]
        assert r.json()["resourceType"] == "OperationOutcome" and issue["expression"] == ["hookInstance"]


def test_hook_instance_is_required(client: TestClient) -> None:
    body = hook_request(prefetch=prefetch_for(cytopenic_patient()))
    del body["hookInstance"]
    r = client.post(SERVICE, json=body)
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["hookInstance"]
