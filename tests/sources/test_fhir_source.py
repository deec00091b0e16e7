"""FhirPatientSource: one batch round trip when the server supports batch, parallel searches when not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import respx

from cds_cyto.sources import (
    FhirClient,
    FhirError,
    FhirPatientSource,
    PatientNotFound,
    PatientSource,
    default_observation_codes,
)
from tests.sources.conftest import BASE
from tests.support.fhir import bare_observation, operation_outcome, search_bundle

PATIENT = {"resourceType": "Patient", "id": "p1"}
MEDICATION = {"resourceType": "Medication", "id": "m1"}
ADMINISTRATION = {
    "resourceType": "MedicationAdministration",
    "id": "ma1",
    "subject": {"reference": "Patient/p1"},
    "medicationReference": {"reference": "Medication/m1"},
}


def capability(*interactions: str) -> httpx.Response:
    rest = {"mode": "server", "interaction": [{"code": code} for code in interactions]}
    return httpx.Response(200, json={"resourceType": "CapabilityStatement", "rest": [rest]})


def batch_answer(request: httpx.Request, pages: dict[str, dict[str, Any]]) -> httpx.Response:
    """A batch-response: the Patient, then one searchset per search (from `pages` by type, else empty)."""
    entries = []
    for entry in orjson.loads(request.content)["entry"]:
        url = entry["request"]["url"]
        rtype = url.split("?")[0].split("/")[0]
        resource = PATIENT if url.startswith("Patient/") else pages.get(rtype, search_bundle())
        entries.append({"resource": resource, "response": {"status": "200 OK"}})
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "batch-response", "entry": entries})


def test_default_observation_codes_come_from_the_tables() -> None:
    codes = default_observation_codes(extra=["urn:site|il2"])
    assert "http://loinc.org|751-8" in codes  # ANC
    assert "urn:cds-cyto:obs|crs-grade" in codes  # charted CRS grade
    assert "urn:site|il2" in codes
    assert "http://loinc.org|58410-2" in codes  # a CBC panel, whose counts come as components
    # a server matches a system as written: LOINC under its OID is asked for too, code by code
    loinc = [c.split("|")[1] for c in codes if c.startswith("http://loinc.org|")]
    assert [c.split("|")[1] for c in codes if c.startswith("urn:oid:2.16.840.1.113883.6.1|")] == loinc
    assert len(codes) == len(set(codes))


async def test_batch_fetch_is_one_round_trip(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.get("/metadata").mock(return_value=capability("transaction", "batch"))
    pages = {
        "Observation": search_bundle(bare_observation("o1")),
        "MedicationAdministration": search_bundle(ADMINISTRATION, MEDICATION),
    }
    route = fhir_mock.post("").mock(side_effect=lambda request: batch_answer(request, pages))
    source = FhirPatientSource(client, ["http://loinc.org|751-8"])
    assert isinstance(source, PatientSource)

    resources = await source.patient_resources("p1")

    assert [f"{r['resourceType']}/{r['id']}" for r in resources] == [
        "Patient/p1",
        "Observation/o1",
        "MedicationAdministration/ma1",
        "Medication/m1",
    ]
    assert client.stats.requests == 2  # the CapabilityStatement, then one batch
    await source.patient_resources("p1")
    assert client.stats.requests == 3  # capability cached: one round trip per patient
    urls = [e["request"]["url"] for e in orjson.loads(route.calls.last.request.content)["entry"]]
    assert urls[0] == "Patient/p1"
    assert urls[1] == "Observation?patient=p1&_count=2000&code=http://loinc.org|751-8"
    assert "MedicationAdministration?patient=p1&_count=2000&_include=MedicationAdministration:medication" in urls


async def test_batch_entries_with_more_pages_are_followed(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    pages = {"Observation": search_bundle(bare_observation("o1"), next_url=f"{BASE}?_getpages=abc&_offset=1")}
    fhir_mock.post("").mock(side_effect=lambda request: batch_answer(request, pages))
    fhir_mock.get("", params={"_getpages": "abc"}).mock(
        return_value=httpx.Response(200, json=search_bundle(bare_observation("o2")))
    )
    resources = await FhirPatientSource(client, use_batch=True).patient_resources("p1")
    assert [r["id"] for r in resources if r["resourceType"] == "Observation"] == ["o1", "o2"]
    assert client.stats.requests == 2


async def test_a_failed_batch_entry_fails_the_whole_fetch(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        good = batch_answer(request, {}).json()
        good["entry"][2] = {
            "response": {"status": "500 Internal Server Error", "outcome": operation_outcome("db down")}
        }
        return httpx.Response(200, json=good)

    fhir_mock.post("").mock(side_effect=answer)
    with pytest.raises(FhirError, match=r"batch entry Procedure: HTTP 500$"):
        await FhirPatientSource(client, use_batch=True).patient_resources("p1")


async def test_missing_patient_in_batch(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = batch_answer(request, {}).json()
        body["entry"][0] = {"response": {"status": "404 Not Found"}, "resource": operation_outcome("gone")}
        return httpx.Response(200, json=body)

    fhir_mock.post("").mock(side_effect=answer)
    with pytest.raises(PatientNotFound):
        await FhirPatientSource(client, use_batch=True).patient_resources("p1")


async def test_without_batch_support_searches_run_in_parallel(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.get("/metadata").mock(return_value=capability("history-system"))
    fhir_mock.get("/Patient/p1").mock(return_value=httpx.Response(200, json=PATIENT))
    fhir_mock.get("/Observation").mock(return_value=httpx.Response(200, json=search_bundle(bare_observation("o1"))))
    fhir_mock.get(url__regex=r"/(Procedure|Condition|Medication\w+)\?").mock(
        return_value=httpx.Response(200, json=search_bundle())
    )
    since = datetime(2025, 3, 1, tzinfo=UTC)
    resources = await FhirPatientSource(client, [], since=since).patient_resources("p1")
    assert [r["id"] for r in resources] == ["p1", "o1"]
    assert client.stats.requests == 7  # capabilities, Patient, Observation and four searches
    observation_call = next(c for c in fhir_mock.calls if c.request.url.path.endswith("/Observation"))
    params = observation_call.request.url.params
    assert params["_lastUpdated"] == "gt2025-03-01T00:00:00+00:00"
    assert "code" not in params  # an empty code list asks for every Observation


async def test_missing_patient_without_batch(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.get("/Patient/p1").mock(return_value=httpx.Response(404, json=operation_outcome("not known")))
    fhir_mock.get(url__regex=r"\?patient=").mock(return_value=httpx.Response(200, json=search_bundle()))
    with pytest.raises(PatientNotFound):
        await FhirPatientSource(client, use_batch=False).patient_resources("p1")


async def test_an_id_that_is_not_a_fhir_id_is_not_found(client: FhirClient) -> None:
    with pytest.raises(PatientNotFound):
        await FhirPatientSource(client).patient_resources("p1&_count=1")


async def test_patient_ids(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    route = fhir_mock.get("/Patient").mock(return_value=httpx.Response(200, json=search_bundle(PATIENT)))
    assert await FhirPatientSource(client).patient_ids() == ["p1"]
    assert route.calls.last.request.url.params["_elements"] == "id"


async def test_transaction_support_implies_batch(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    # HAPI FHIR lists `transaction` but not `batch` in its CapabilityStatement, and runs batches.
    fhir_mock.get("/metadata").mock(return_value=capability("transaction"))
    assert await client.supports_batch()


async def test_a_refused_batch_falls_back_to_searches_once(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.get("/metadata").mock(return_value=capability("transaction"))
    batch = fhir_mock.post("").mock(return_value=httpx.Response(405, json=operation_outcome("batch not supported")))
    fhir_mock.get("/Patient/p1").mock(return_value=httpx.Response(200, json=PATIENT))
    fhir_mock.get(url__regex=r"\?patient=").mock(return_value=httpx.Response(200, json=search_bundle()))
    source = FhirPatientSource(client, [])
    assert [r["id"] for r in await source.patient_resources("p1")] == ["p1"]
    assert [r["id"] for r in await source.patient_resources("p1")] == ["p1"]
    assert batch.call_count == 1  # remembered: the second fetch goes straight to searches
