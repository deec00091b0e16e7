"""Shared helpers for the sources tests: FHIR JSON builders, a client that records its waits, a local server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
import respx

from cds_cyto.sources import FhirClient, RetryPolicy, Timeouts

BASE = "https://fhir.example.test/r4"


class SleepRecorder:
    """Stands in for asyncio.sleep: records each wait and yields control without spending it."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def fhir_mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client(sleeps: SleepRecorder) -> AsyncIterator[FhirClient]:
    async with FhirClient(
        BASE,
        timeouts=Timeouts(connect=1.0, read=2.0, total=5.0),
        retry=RetryPolicy(attempts=4, backoff=0.1, max_backoff=1.0),
        sleep=sleeps,
    ) as fhir:
        yield fhir


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def local_server(handler: Handler) -> AsyncIterator[str]:
    """A real TCP server on 127.0.0.1 running `handler` per connection; yields its base URL."""
    running: set[asyncio.Task[None]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            running.discard(task)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        server.close()
        for task in list(running):  # a handler may still be sleeping on a request the client gave up on
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await server.wait_closed()


@pytest.fixture(scope="module")
def recorder() -> Iterator[str]:
    """tests/sources/recording_fhir.py as a server process; its base URL (behaviours are path segments)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sources.recording_fhir"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
