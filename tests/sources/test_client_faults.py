"""FhirClient against faults a real server will not produce on demand (respx)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from cds_cyto.sources import (
    FhirClient,
    FhirError,
    FhirProtocolError,
    FhirUnavailable,
    RetryPolicy,
    Timeouts,
    date_range,
    token_list,
)
from tests.sources.conftest import BASE, SleepRecorder
from tests.support.fhir import bare_observation, operation_outcome, search_bundle


async def test_429_with_retry_after_seconds_waits_that_long(
    fhir_mock: respx.MockRouter, client: FhirClient, sleeps: SleepRecorder
) -> None:
    fhir_mock.get("/Patient/p1").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(200, json={"resourceType": "Patient", "id": "p1"}),
        ]
    )
    patient = await client.read("Patient", "p1")
    assert patient["id"] == "p1"
    assert sleeps.waits == [3.0]
    assert client.stats.requests == 2
    assert client.stats.retries == 1


async def test_429_with_retry_after_http_date(
    fhir_mock: respx.MockRouter, client: FhirClient, sleeps: SleepRecorder
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    fhir_mock.get("/Patient/p1").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": when}),
            httpx.Response(200, json={"resourceType": "Patient", "id": "p1"}),
        ]
    )
    await client.read("Patient", "p1")
    (wait,) = sleeps.waits
    assert 2.5 <= wait <= 4.0  # the date has one-second resolution


async def test_retry_after_is_capped(fhir_mock: respx.MockRouter, sleeps: SleepRecorder) -> None:
    fhir_mock.get("/Patient/p1").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "3600"}),
            httpx.Response(200, json={"resourceType": "Patient", "id": "p1"}),
        ]
    )
    retry = RetryPolicy(max_retry_after=2.0)
    async with FhirClient(BASE, retry=retry, timeouts=Timeouts(total=10.0), sleep=sleeps) as client:
        await client.read("Patient", "p1")
    assert sleeps.waits == [2.0]


async def test_503_then_success(fhir_mock: respx.MockRouter, client: FhirClient, sleeps: SleepRecorder) -> None:
    fhir_mock.get("/Observation").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=search_bundle(bare_observation("o1")))]
    )
    found = await client.search("Observation", {"patient": "p1"})
    assert [r["id"] for r in found] == ["o1"]
    assert len(sleeps.waits) == 1
    assert 0.05 <= sleeps.waits[0] <= 0.1  # first backoff with equal jitter: between half and all of 0.1 s


async def test_503_forever_gives_up_in_bounded_time(fhir_mock: respx.MockRouter) -> None:
    route = fhir_mock.get("/Patient/p1").mock(return_value=httpx.Response(503, json=operation_outcome("maintenance")))
    retry = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
    started = time.perf_counter()
    async with FhirClient(BASE, retry=retry) as client:
        with pytest.raises(FhirUnavailable, match=r"HTTP 503 after 3 attempts$") as caught:  # never its text
            await client.read("Patient", "p1")
    assert time.perf_counter() - started < 1.0
    assert route.call_count == 3
    assert caught.value.status == 503


async def test_retry_that_would_pass_the_deadline_fails_at_once(
    fhir_mock: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    fhir_mock.get("/Patient/p1").mock(return_value=httpx.Response(429, headers={"Retry-After": "20"}))
    async with FhirClient(BASE, timeouts=Timeouts(total=5.0), sleep=sleeps) as client:
        with pytest.raises(FhirUnavailable, match="would pass the 5 s deadline"):
            await client.read("Patient", "p1")
    assert sleeps.waits == []


async def test_4xx_is_not_retried_and_carries_operation_outcome_text(
    fhir_mock: respx.MockRouter, client: FhirClient
) -> None:
    route = fhir_mock.get("/Observation").mock(
        return_value=httpx.Response(400, json=operation_outcome("Unknown search parameter 'colour'"))
    )
    with pytest.raises(FhirError) as caught:
        await client.search("Observation", {"colour": "red"})
    assert caught.value.status == 400
    assert caught.value.operation_outcome_text == "Unknown search parameter 'colour'"
    assert str(caught.value) == "search Observation: HTTP 400"  # the server's words stay out of every message
    assert route.call_count == 1


async def test_malformed_json(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.get("/Observation").mock(
        return_value=httpx.Response(
            200, content=b'{"resourceType": "Bundle", "entry": [', headers={"Content-Type": "application/fhir+json"}
        )
    )
    with pytest.raises(FhirProtocolError, match="not JSON") as caught:
        await client.search("Observation")
    assert caught.value.__cause__ is not None


async def test_search_answer_that_is_not_a_bundle(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.get("/Observation").mock(return_value=httpx.Response(200, json=bare_observation("o1")))
    with pytest.raises(FhirProtocolError, match="expected a Bundle, got Observation"):
        await client.search("Observation")


@pytest.mark.parametrize(
    ("element", "value"), [("entry", 5), ("entry", {"resource": {}}), ("link", 7), ("link", "next")]
)
async def test_a_searchset_whose_entry_or_link_is_no_list_is_refused(
    fhir_mock: respx.MockRouter, client: FhirClient, element: str, value: object
) -> None:
    """Read as empty, its results or its next page would be lost without a word (a fault HAPI cannot produce)."""
    page = {**search_bundle(bare_observation("o1")), element: value}
    fhir_mock.get("/Observation").mock(return_value=httpx.Response(200, json=page))
    with pytest.raises(FhirProtocolError, match=f"Bundle.{element} is not a list"):
        await client.search("Observation")


async def test_paging_loop_is_detected(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.get("/Observation").mock(
        return_value=httpx.Response(200, json=search_bundle(bare_observation("o1"), next_url=f"{BASE}?page=2"))
    )
    fhir_mock.get("", params={"page": "2"}).mock(
        return_value=httpx.Response(200, json=search_bundle(bare_observation("o2"), next_url=f"{BASE}?page=2"))
    )
    with pytest.raises(FhirProtocolError, match="paging loop"):
        await client.search("Observation")


async def test_page_cap(fhir_mock: respx.MockRouter) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        return httpx.Response(
            200, json=search_bundle(bare_observation(f"o{number}"), next_url=f"{BASE}/Observation?page={number + 1}")
        )

    fhir_mock.get("/Observation").mock(side_effect=page)
    async with FhirClient(BASE, max_pages=3) as client:
        with pytest.raises(FhirProtocolError, match="more than 3 pages"):
            await client.search("Observation")
        assert client.stats.requests == 3


async def test_pages_are_followed_and_every_copy_handed_over(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    """A resource on two pages (the data changed while paging) comes twice: the core's one rule settles copies."""
    fhir_mock.get("/Observation", params={"page": "2"}).mock(
        return_value=httpx.Response(200, json=search_bundle(bare_observation("o2"), bare_observation("o1")))
    )
    fhir_mock.get("/Observation").mock(
        return_value=httpx.Response(200, json=search_bundle(bare_observation("o1"), next_url="Observation?page=2"))
    )
    found = await client.search("Observation")
    assert [r["id"] for r in found] == ["o1", "o2", "o1"]


async def test_next_link_to_another_server_is_refused(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.get("/Observation").mock(
        return_value=httpx.Response(200, json=search_bundle(next_url="https://elsewhere.test/r4?page=2"))
    )
    with pytest.raises(FhirProtocolError, match="another server"):
        await client.search("Observation")


async def test_search_outcome_with_an_error_is_not_a_silent_partial_result(
    fhir_mock: respx.MockRouter, client: FhirClient
) -> None:
    page = search_bundle(bare_observation("o1"))
    page["entry"].append({"resource": operation_outcome("search truncated"), "search": {"mode": "outcome"}})
    fhir_mock.get("/Observation").mock(return_value=httpx.Response(200, json=page))
    with pytest.raises(FhirError, match="the server reported an error") as caught:
        await client.search("Observation")
    assert caught.value.operation_outcome_text == "search truncated"


async def test_search_parameters_are_encoded(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    route = fhir_mock.get("/Observation").mock(return_value=httpx.Response(200, json=search_bundle()))
    await client.search(
        "Observation",
        {
            "code": token_list(["http://loinc.org|751-8", "http://loinc.org|718-7"]),
            "date": date_range(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)),
            "_count": 50,
            "_sort": "date",
        },
    )
    params = route.calls.last.request.url.params
    assert params["code"] == "http://loinc.org|751-8,http://loinc.org|718-7"
    assert params.get_list("date") == ["ge2024-01-01T00:00:00+00:00", "lt2024-02-01T00:00:00+00:00"]
    assert (params["_count"], params["_sort"]) == ("50", "date")


def test_token_list_escapes_fhir_search_syntax() -> None:
    assert token_list(["urn:x|a,b", "plain"]) == "urn:x|a\\,b,plain"


async def test_transaction_and_batch_round_trip(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    fhir_mock.post("").mock(
        return_value=httpx.Response(
            200,
            json={
                "resourceType": "Bundle",
                "type": "transaction-response",
                "entry": [{"response": {"status": "201 Created"}}],
            },
        )
    )
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient"}}],
    }
    answer = await client.transaction(tx)
    assert answer["type"] == "transaction-response"
    assert client.stats.requests == 1
    assert client.stats.bytes_sent > 0
    with pytest.raises(ValueError, match="type batch"):
        await client.batch(tx)


async def test_capabilities_are_cached_per_base_url(fhir_mock: respx.MockRouter, client: FhirClient) -> None:
    route = fhir_mock.get("/metadata").mock(
        return_value=httpx.Response(
            200,
            json={
                "resourceType": "CapabilityStatement",
                "rest": [{"mode": "server", "interaction": [{"code": "batch"}]}],
            },
        )
    )
    assert await client.supports_batch()
    other = client.pool.client(BASE)
    assert await other.supports_batch()
    assert route.call_count == 1


async def test_ids_that_could_change_the_url_are_refused(client: FhirClient) -> None:
    with pytest.raises(ValueError, match="not a FHIR resource id"):
        await client.read("Patient", "p1&_include=*")
    with pytest.raises(ValueError, match="relative"):
        await client.query("https://elsewhere.test/Patient/1")


@pytest.mark.parametrize(
    "statement",
    [
        {"resourceType": "CapabilityStatement", "rest": 5},
        {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "interaction": 7}]},
        {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "interaction": {"code": "batch"}}]},
        {"resourceType": "CapabilityStatement", "rest": "batch"},
    ],
)
async def test_a_capability_statement_of_wrong_types_means_no_batch(
    fhir_mock: respx.MockRouter, client: FhirClient, statement: dict[str, object]
) -> None:
    # found by type-mutation fuzzing (tests/fuzz): a number for `rest` or `interaction` raised TypeError, a 500
    fhir_mock.get("/metadata").mock(return_value=httpx.Response(200, json=statement))
    assert await client.supports_batch() is False
