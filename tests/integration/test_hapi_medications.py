"""Drugs named by reference, end to end against the real server (issue 12): an EHR that ignores `_include` in its
prefetch sends the MedicationAdministrations without their Medication; the service reads the Medication from the
FHIR server (one `Medication?_id=` search) and knows G-CSF was given. So does a patient fetch."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_cyto.core.extract import extract_record
from cds_cyto.sources import FhirClient, FhirPatientSource
from tests.cds.scenario import cytopenic_patient, filgrastim, gcsf_by_reference, hook_request, prefetch_for
from tests.integration.helpers import TcpProxy, load_resources, unique_id
from tests.integration.test_hapi_service import authorization, call, service  # noqa: F401 — the fixture

pytestmark = pytest.mark.hapi


@pytest.fixture(scope="module")
def given_gcsf(hapi_url: str) -> tuple[str, str, list[dict[str, Any]]]:
    """A cytopenic patient given filgrastim on days 3-6, by reference to a Medication stored on the server."""
    pid, mid = unique_id("gcsf"), unique_id("filgrastim")
    admins = gcsf_by_reference(pid, range(3, 7), f"Medication/{mid}")
    resources = [*cytopenic_patient(pid), *admins]
    load_resources(hapi_url, [filgrastim(mid), *resources])
    return pid, mid, resources


def test_a_medication_missing_from_the_prefetch_is_read_from_the_server(
    service: TestClient,  # noqa: F811
    given_gcsf: tuple[str, str, list[dict[str, Any]]],
    hapi_url: str,
) -> None:
    pid, mid, resources = given_gcsf
    prefetch = prefetch_for(resources)  # the administrations, without their Medication
    with TcpProxy(hapi_url) as proxy:
        body = hook_request(pid, prefetch=prefetch, fhirServer=proxy.base_url, fhirAuthorization=authorization(pid))
        status, answer = call(service, body)
    assert status == 200, answer
    (card,) = [c for c in answer["cards"] if c["source"]["topic"]["code"] == "gcsf-therapeutic"]
    assert "G-CSF already given" in card["summary"]
    sent = bytes(proxy.sent_up).lower()
    assert f"get /fhir/medication?_id={mid}".lower().encode() in sent
    assert sent.count(b" http/1.1\r\n") == 1  # everything else came prefetched


async def test_a_patient_fetch_reads_medications_the_searches_did_not_bring(
    given_gcsf: tuple[str, str, list[dict[str, Any]]], hapi_url: str
) -> None:
    pid, mid, _ = given_gcsf
    async with FhirClient(hapi_url) as client:
        source = FhirPatientSource(client)
        fetched = await source.patient_resources(pid)  # HAPI honours _include: the Medication came along
        assert mid in [r["id"] for r in fetched if r["resourceType"] == "Medication"]
        without = [r for r in fetched if r["resourceType"] != "Medication"]
        read = await source.medications(without)  # as for a server that ignores _include
    assert [r["id"] for r in read] == [mid]
    record = extract_record(without + read, patient_id=pid)
    assert len(record.events_of("gcsf")) == 4 and record.unresolved_medications == []
