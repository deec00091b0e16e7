"""Issue 3 and 5 on the real server: Bundles loaded with `cds-cyto fixtures load`, fetched back through
FhirPatientSource over many pages, give the very same Assessment as the files; and what such a fetch costs."""

from __future__ import annotations

import time

import orjson
import pytest

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import default_profile
from cds_cyto.sources import BundleFileSource, FhirClient, FhirPatientSource
from cds_cyto.sources._fhir_json import resource_key
from tests.integration.helpers import AS_OF, BIG_OBSERVATIONS, SMALL_OBSERVATIONS, LoadedPatients
from tests.support.fhir import present

pytestmark = pytest.mark.hapi


def test_fixtures_load_puts_every_bundle_on_the_server(loaded: LoadedPatients) -> None:
    resources = BIG_OBSERVATIONS + SMALL_OBSERVATIONS + 4  # + a Patient and a Procedure each
    assert f"loaded 2 of 2 file(s), {resources} resource(s)" in loaded.load_output
    assert "(2 request(s))" in loaded.load_output  # one transaction per file
    print(f"\n[hapi] fixtures load: {resources} resources in 2 transactions, {loaded.load_seconds:.1f} s")


async def test_a_patient_of_many_pages_evaluates_as_from_the_file(hapi_url: str, loaded: LoadedPatients) -> None:
    profile = default_profile()
    async with FhirClient(hapi_url) as client:
        source = FhirPatientSource(client)  # as the CLI uses it: _count=2000, the test server's page cap
        started = time.perf_counter()
        from_server = await source.patient_resources(loaded.big)
        seconds = time.perf_counter() - started
        asks_batch = await client.supports_batch()  # cached: no request
    from_file = await BundleFileSource(loaded.folder).patient_resources(loaded.big)

    assert len(from_server) == len(from_file) == BIG_OBSERVATIONS + 2
    assert {resource_key(present(r)) for r in from_server} == {
        resource_key(present(r)) for r in from_file
    }  # the file's: lean
    # HAPI lists `transaction`, which implies batch: /metadata once per process, then ONE batch round trip
    assert asks_batch
    assert client.stats.requests == 1 + 1
    print(
        f"\n[hapi] FhirPatientSource defaults (use_batch=None → {'batch' if asks_batch else 'searches'}, _count=2000): "
        f"{client.stats.requests} requests, {client.stats.bytes_received / 1e6:.2f} MB, {seconds * 1000:.0f} ms"
    )
    as_json = [evaluate(extract_record(rs, profile), AS_OF, profile).to_json() for rs in (from_server, from_file)]
    assert orjson.dumps(as_json[0]) == orjson.dumps(as_json[1])
    raw = orjson.loads(loaded.big_file.read_bytes())
    assert as_json[0] == evaluate(extract_record(raw, profile), AS_OF, profile).to_json()
    assert as_json[0]["patient_id"] == loaded.big and as_json[0]["day"] == 7


async def test_the_small_patient_of_the_same_directory_too(hapi_url: str, loaded: LoadedPatients) -> None:
    profile = default_profile()
    async with FhirClient(hapi_url) as client:
        from_server = await FhirPatientSource(client).patient_resources(loaded.small)
    from_file = await BundleFileSource(loaded.folder).patient_resources(loaded.small)
    assert len(from_server) == SMALL_OBSERVATIONS + 2
    assert (
        evaluate(extract_record(from_server, profile), AS_OF, profile).to_json()
        == evaluate(extract_record(from_file, profile), AS_OF, profile).to_json()
    )


async def test_hapi_supports_batch_without_listing_it(hapi_url: str, loaded: LoadedPatients) -> None:
    """HAPI 8.8.0's CapabilityStatement lists the system interactions transaction and history-system, not batch,
    although POST [base] takes batch Bundles. So `use_batch=None` (ask the server) runs separate searches."""
    async with FhirClient(hapi_url) as client:
        statement = await client.capabilities()
        codes = {i["code"] for rest in statement["rest"] for i in rest.get("interaction", [])}
        assert "transaction" in codes
        print(f"\n[hapi] CapabilityStatement: {len(orjson.dumps(statement)) / 1e6:.1f} MB, system interactions {codes}")
        answer = await client.batch(
            {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": "Patient/" + loaded.big}}],
            }
        )
        assert answer["entry"][0]["response"]["status"].startswith("200")
        print(f"[hapi] supports_batch() = {await client.supports_batch()}; a batch POST works: yes")


async def test_round_trips_of_a_1500_observation_fetch(hapi_url: str, loaded: LoadedPatients) -> None:
    """Issue 3's figure: one round trip. A batch answers each search with its first page only; the test server's
    page cap is 2000 (hapi/src/main/resources/application.properties), so `_count=2000` brings all 1,500
    Observations in the batch. (With HAPI's default cap, 1000, one follow-up page would be needed.)"""
    async with FhirClient(hapi_url) as client:
        source = FhirPatientSource(client, use_batch=True)
        started = time.perf_counter()
        resources = await source.patient_resources(loaded.big)
        seconds = time.perf_counter() - started
        requests, received = client.stats.requests, client.stats.bytes_received
        # A larger _count is cut to the server's cap, never beyond it.
        first = await client.batch(
            {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": f"Observation?patient={loaded.big}&_count=5000"}}],
            }
        )
    print(
        f"\n[hapi] batch fetch with _count=2000 of {BIG_OBSERVATIONS} Observations: {requests} request(s), "
        f"{received / 1e6:.2f} MB received, {seconds * 1000:.0f} ms"
    )
    assert len(resources) == BIG_OBSERVATIONS + 2
    assert requests == 1
    capped = first["entry"][0]["resource"]
    assert len(capped["entry"]) == BIG_OBSERVATIONS and capped["total"] == BIG_OBSERVATIONS
    assert not any(link["relation"] == "next" for link in capped.get("link", []))
