"""FhirClient against real sockets on 127.0.0.1: refused connections and a server too slow to answer."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from cds_cyto.sources import FhirClient, FhirUnavailable, RetryPolicy, Timeouts
from tests.sources.conftest import Handler, local_server

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)


def closed_port() -> int:
    """A port nothing listens on: bind to get a free one, then close it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def slow_handler(delay: float, body: bytes = b'{"resourceType":"Patient","id":"p1"}') -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # the request head; GETs have no body
        await asyncio.sleep(delay)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()

    return handle


async def test_connection_refused_is_retried_then_unavailable() -> None:
    async with FhirClient(f"http://127.0.0.1:{closed_port()}/fhir", retry=FAST_RETRY) as client:
        with pytest.raises(FhirUnavailable, match=r"connection failed \(attempt 3\)") as caught:
            await client.read("Patient", "p1")
    assert client.stats.requests == 3
    assert caught.value.__cause__ is not None  # the httpx error, kept for debugging


async def test_a_server_that_answers_in_time_is_read() -> None:
    async with local_server(slow_handler(0.0)) as base, FhirClient(base) as client:
        assert (await client.read("Patient", "p1"))["id"] == "p1"


async def test_read_timeout_is_retried_then_unavailable() -> None:
    timeouts = Timeouts(connect=1.0, read=0.1, total=5.0)
    started = time.perf_counter()
    async with local_server(slow_handler(2.0)) as base, FhirClient(base, timeouts=timeouts, retry=FAST_RETRY) as client:
        with pytest.raises(FhirUnavailable, match=r"read timeout \(attempt 3\)"):
            await client.read("Patient", "p1")
    assert time.perf_counter() - started < 1.5


async def test_total_deadline_bounds_the_operation() -> None:
    timeouts = Timeouts(connect=1.0, read=10.0, total=0.3)
    started = time.perf_counter()
    async with local_server(slow_handler(5.0)) as base, FhirClient(base, timeouts=timeouts) as client:
        with pytest.raises(FhirUnavailable, match=r"no complete answer within 0.3 s"):
            await client.read("Patient", "p1")
    assert time.perf_counter() - started < 1.5
