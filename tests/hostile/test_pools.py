"""One connection pool per FHIR server origin, in a bounded LRU that never closes a pool in use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from cds_cyto.sources import FhirClient, FhirPool


@asynccontextmanager
async def patient_server() -> AsyncIterator[str]:
    """A real server on a loopback port that answers every request with a Patient."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        body = b'{"resourceType":"Patient","id":"p1"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/fhir"
    finally:
        server.close()
        await server.wait_closed()


async def test_each_origin_gets_its_own_pool_and_idle_ones_are_evicted() -> None:
    async with AsyncExitStack() as stack:
        bases = [await stack.enter_async_context(patient_server()) for _ in range(3)]
        async with FhirPool(max_connections=2, max_origins=2) as pool:
            for base in bases:
                client = FhirClient(base, pool=pool)
                assert (await client.read("Patient", "p1"))["id"] == "p1"
            assert pool.origins == 2  # the least recently used idle pool was closed


async def test_a_pool_in_use_is_never_evicted() -> None:
    async with AsyncExitStack() as stack:
        bases = [await stack.enter_async_context(patient_server()) for _ in range(3)]
        async with FhirPool(max_origins=1) as pool, pool.lease(httpx.URL(bases[0])) as busy:
            for base in bases[1:]:
                await FhirClient(base, pool=pool).read("Patient", "p1")
            assert pool.origins == 2  # the busy one and the newest: the LRU waits for the busy one to finish
            assert not busy.is_closed
