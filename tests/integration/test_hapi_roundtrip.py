"""Issue 3 and 5 on the real server: Bundles loaded with `cds-cyto fixtures load`, fetched back through
FhirPatientSource over many pages, give the very same Assessment as the files; and what such a fetch costs."""

from __future__ import annotations

import time

import orjson
import pytest

from cds_cyto.assess import evaluate
from cds_cyto.extract import extract_record
from cds_cyto.profile import default_profile
from cds_cyto.sources import BundleFileSource, FhirClient, FhirPatientSource
from tests.integration.helpers import AS_OF, BIG_OBSERVATIONS, SMALL_OBSERVATIONS, LoadedPatients

pytestmark = pytest.mark.hapi


def test_fixtures_load_puts_every_bundle_on_the_server(loaded: LoadedPatients) -> None:
    resources = BIG_OBSERVATIONS + SMALL_OBSERVATIONS + 4  # + a Patient and a Procedure each
    assert f"loaded 2 file(s), {resources} resource(s)" in loaded.load_output
    assert "(2 request(s))" in loaded.load_output  # one transaction per file
    print(f"\n[hapi] fixtures load: {resources} resources in 2 transactions, {loaded.load_seconds:.1f} s")


async def test_a_patient_of_many_pages_evaluates_as_from_the_file(hapi_url: str, loaded: LoadedPatients) -> None:
    profile = default_profile()
    async with FhirClient(hapi_url) as client:
        source = FhirPatientSource(client)  # as the CLI uses it: page size 1000 (HAPI's cap), so 2 Observation pages
        started = time.perf_counter()
        from_server = await source.patient_resources(loaded.big)
        seconds = time.perf_counter() - started
        asks_batch = await client.supports_batch()  # cached: no request
    from_file = await BundleFileSource(loaded.folder).patient_resources(loaded.big)

    assert len(from_server) == len(from_file) == BIG_OBSERVATIONS + 2
    assert {r["id"] for r in from_server} == {r["id"] for r in from_file}
    # HAPI lists `transaction`, which implies batch: /metadata, the batch (Observations 1-1000), one more page
    assert asks_batch
    assert client.stats.requests == 1 + 1 + 1
    print(
        f"\n[hapi] FhirPatientSource defaults (use_batch=None → {'batch' if asks_batch else 'searches'}, _count=1000): "
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
    """Issue 5's figure. HAPI caps `_count` at 1000, and a batch answers each search with its first page only, so
    1,500 Observations take the batch plus at least one follow-up page: 2 round trips at best, not 1.
    (`bench/bench_fetch.py --max-page-size 2000` shows the 1-round-trip case.)"""
    async with FhirClient(hapi_url) as client:
        source = FhirPatientSource(client, page_size=1000, use_batch=True)
        started = time.perf_counter()
        resources = await source.patient_resources(loaded.big)
        seconds = time.perf_counter() - started
        requests, received = client.stats.requests, client.stats.bytes_received
        # A larger _count does not help: HAPI cuts it to its max page size (1000), the next link has the rest.
        first = await client.batch(
            {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": f"Observation?patient={loaded.big}&_count=5000"}}],
            }
        )
    print(
        f"\n[hapi] batch fetch with _count=1000 of {BIG_OBSERVATIONS} Observations: {requests} requests, "
        f"{received / 1e6:.2f} MB received, {seconds * 1000:.0f} ms"
    )
    assert len(resources) == BIG_OBSERVATIONS + 2
    assert requests == 1 + 1  # the batch (Observations 1-1000), then Observations 1001-1500
    capped = first["entry"][0]["resource"]
    assert len(capped["entry"]) == 1000 and capped["total"] == BIG_OBSERVATIONS
    assert any(link["relation"] == "next" for link in capped["link"])
