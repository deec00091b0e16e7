"""Faults on real sockets in front of the real server: nobody listening, a slow server, a server that stops in
the middle of a fetch. Each ends within a known time in a SourceError subclass, and never with a partial result."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.settings import Settings
from cds_cyto.sources import FhirClient, FhirPatientSource, FhirUnavailable, RetryPolicy, SourceError, Timeouts
from tests.cds.scenario import hook_request
from tests.integration.helpers import AS_OF, SMALL_OBSERVATIONS, LoadedPatients, TcpProxy

pytestmark = pytest.mark.hapi

QUICK_RETRY = RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused(loaded: LoadedPatients) -> None:
    started = time.perf_counter()
    async with FhirClient(f"http://127.0.0.1:{closed_port()}/fhir", retry=QUICK_RETRY) as client:
        with pytest.raises(FhirUnavailable, match=r"connection failed \(attempt 3\)"):
            await FhirPatientSource(client).patient_resources(loaded.small)
    assert time.perf_counter() - started < 3.0
    assert client.stats.requests == 3


async def test_the_proxy_itself_passes_a_whole_fetch(hapi_url: str, loaded: LoadedPatients) -> None:
    """The control for the tests below: through the proxy, paging works (HAPI's next links name the proxy)."""
    with TcpProxy(hapi_url) as proxy:
        async with FhirClient(proxy.base_url) as client:
            resources = await FhirPatientSource(client, use_batch=True, page_size=10).patient_resources(loaded.small)
    assert len(resources) == SMALL_OBSERVATIONS + 2
    assert client.stats.requests == 4  # the batch, then Observation pages 2, 3 and 4
    # HAPI gzips its answers: Stats.bytes_received counts the JSON, several times what went over the wire.
    assert 0 < 3 * proxy.bytes_down < client.stats.bytes_received


async def test_slow_answers_hit_the_read_timeout(hapi_url: str, loaded: LoadedPatients) -> None:
    timeouts = Timeouts(connect=1.0, read=0.25, total=5.0)
    started = time.perf_counter()
    with TcpProxy(hapi_url, delay_s=1.0) as proxy:
        async with FhirClient(proxy.base_url, timeouts=timeouts, retry=QUICK_RETRY) as client:
            with pytest.raises(FhirUnavailable, match=r"read timeout \(attempt 3\)"):
                await FhirPatientSource(client, use_batch=True).patient_resources(loaded.small)
    assert time.perf_counter() - started < 2.5


async def test_a_trickling_answer_hits_the_total_deadline(hapi_url: str, loaded: LoadedPatients) -> None:
    """Every chunk arrives well within the read timeout, but the whole fetch does not fit the deadline."""
    timeouts = Timeouts(connect=1.0, read=5.0, total=1.5)
    started = time.perf_counter()
    # Pages of 200 make 8 answers of at least one held-back chunk each: 3.2 s or more however TCP splits them.
    with TcpProxy(hapi_url, delay_s=0.4) as proxy:
        async with FhirClient(proxy.base_url, timeouts=timeouts, retry=QUICK_RETRY) as client:
            source = FhirPatientSource(client, use_batch=True, page_size=200)
            with pytest.raises(FhirUnavailable, match=r"patient fetch: no complete answer within 1.5 s"):
                await source.patient_resources(loaded.big)
    assert time.perf_counter() - started < 3.0


async def test_server_stops_in_the_middle_of_a_paged_fetch(hapi_url: str, loaded: LoadedPatients) -> None:
    """The server goes away halfway through the bytes of a paged fetch (40 Observations, 10 a page): the answer
    being read breaks off, the retries find nobody listening, and the fetch fails as a whole."""
    with TcpProxy(hapi_url) as whole:  # how many bytes the whole fetch takes on the wire
        async with FhirClient(whole.base_url) as client:
            await FhirPatientSource(client, use_batch=True, page_size=10).patient_resources(loaded.small)
    assert client.stats.requests == 4  # the batch, then Observation pages 2, 3 and 4

    with TcpProxy(hapi_url, cut_after_bytes=whole.bytes_down // 2) as proxy:
        async with FhirClient(proxy.base_url, retry=QUICK_RETRY) as client:
            source = FhirPatientSource(client, use_batch=True, page_size=10)
            with pytest.raises(FhirUnavailable, match=r"connection failed \(attempt 3\)") as caught:
                await source.patient_resources(loaded.small)
            assert proxy.cut_at is not None
            assert time.perf_counter() - proxy.cut_at < 2.0  # from the moment the server went away
    assert 3 <= client.stats.requests <= 4 + 2 and client.stats.retries == 2
    assert isinstance(caught.value, SourceError)


async def test_server_stops_between_two_fetches(hapi_url: str, loaded: LoadedPatients) -> None:
    """A pooled keep-alive connection to a server that has since stopped is not mistaken for a live one."""
    with TcpProxy(hapi_url) as proxy:
        async with FhirClient(proxy.base_url, retry=QUICK_RETRY) as client:
            source = FhirPatientSource(client, use_batch=True)
            assert len(await source.patient_resources(loaded.small)) == SMALL_OBSERVATIONS + 2
            proxy.cut()
            started = time.perf_counter()
            with pytest.raises(FhirUnavailable):
                await source.patient_resources(loaded.small)
            assert time.perf_counter() - started < 3.0


def test_the_service_answers_412_when_the_fhir_server_is_gone(
    hapi_url: str, loaded: LoadedPatients, tmp_path: Path
) -> None:
    """Nothing prefetched, fhirServer stopped: the hook gets 412 and an OperationOutcome, no cards, with the
    service's own retry policy (four tries, waits of at most 0.5 + 1 + 2 s)."""
    settings = Settings(
        auth="disabled",
        database_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
        demo_dir=tmp_path / "no-demo",
        as_of=AS_OF,
    )
    proxy = TcpProxy(hapi_url)
    proxy.cut()
    body = hook_request(loaded.small, fhirServer=proxy.base_url)
    with TestClient(create_app(settings)) as service:
        started = time.perf_counter()
        answer = service.post("/cds-services/cyto-patient-view", content=orjson.dumps(body))
        seconds = time.perf_counter() - started
    assert answer.status_code == 412, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome" and "cards" not in outcome
    assert "FhirUnavailable" in outcome["issue"][0]["diagnostics"]
    assert seconds < 8.0
