"""Benchmark: fetch one patient with 1,500 Observations from a real HAPI FHIR server through FhirPatientSource.

    .venv/bin/python bench/bench_fetch.py [--fhir URL] [--repeat 7] [--max-page-size N] [--page-size N]

Without --fhir it starts the project's HAPI test server (tests/support/hapi.py: 40-60 s; `--max-page-size`
raises HAPI's cap on `_count`, 1000 by default) and stops it at the end. `--page-size N` (default: the
`--max-page-size` given, if any) adds a batch fetch with `_count=N`. The patient is loaded under a fresh id in
one transaction, then each fetch strategy runs `--repeat` times after one warm-up run. Printed per strategy: best
and median wall time, requests (round trips, a retry would count too), JSON bytes received (what the client
parses) and body bytes on the wire (HAPI gzips). Performance is printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cds_cyto.sources import FhirClient, FhirPatientSource, FhirPool
from tests.integration.helpers import load_resources_async, unique_id
from tests.support.hapi import DEFAULT_JAVA_OPTS, HapiServer, start_hapi
from tests.support.patient_bundle import make_patient_bundle

N_OBSERVATIONS = 1500


class WireCounter(httpx.AsyncBaseTransport):
    """Counts requests, and response body bytes as they come off the socket (before httpx decodes gzip)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests = 0
        self.received = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        response = await self.inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        stream: httpx.AsyncByteStream = response.stream
        counter = self

        class Counted(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in stream:
                    counter.received += len(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await stream.aclose()

        return httpx.Response(
            response.status_code, headers=response.headers, stream=Counted(), extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class Strategy:
    label: str
    page_size: int
    use_batch: bool | None
    fresh_pool: bool  # a new pool per fetch: nothing cached (the CLI's `evaluate --fhir` does this)


STRATEGIES = (
    Strategy("defaults, new pool (CLI)", 200, None, True),
    Strategy("defaults, warm pool", 200, None, False),
    Strategy("batch, _count=200", 200, True, False),
    Strategy("batch, _count=1000", 1000, True, False),
    Strategy("searches, _count=1000", 1000, False, False),
)


@dataclass
class Run:
    seconds: float
    requests: int
    json_bytes: int
    wire_bytes: int
    resources: int


async def fetch_once(base_url: str, pid: str, strategy: Strategy, shared: tuple[FhirPool, WireCounter] | None) -> Run:
    """One fetch; with `shared` None, on a pool of its own that is closed afterwards."""
    if shared is None:
        counter = WireCounter()
        pool = FhirPool(transport=counter)
    else:
        pool, counter = shared
    client = pool.client(base_url)  # a new client per fetch, as the service makes one per hook call
    before = counter.received
    try:
        started = time.perf_counter()
        resources = await FhirPatientSource(
            client, page_size=strategy.page_size, use_batch=strategy.use_batch
        ).patient_resources(pid)
        seconds = time.perf_counter() - started
    finally:
        if shared is None:
            await pool.aclose()
    return Run(seconds, client.stats.requests, client.stats.bytes_received, counter.received - before, len(resources))


async def bench(base_url: str, repeat: int, page_size: int | None) -> None:
    pid = unique_id("benchfetch")
    bundle = make_patient_bundle(N_OBSERVATIONS, pid=pid)
    started = time.perf_counter()
    await load_resources_async(base_url, [e["resource"] for e in bundle["entry"]])
    print(f"loaded {pid}: {N_OBSERVATIONS} Observations + Patient + Procedure in {time.perf_counter() - started:.1f} s")
    async with FhirClient(base_url) as probe:
        asks_batch = await probe.supports_batch()
    print(f"server {base_url}: CapabilityStatement lists batch: {asks_batch}")
    print(f"{'strategy':28} {'best':>8} {'median':>8} {'requests':>8} {'JSON MB':>8} {'wire kB':>8}")
    extra = () if page_size is None else (Strategy(f"batch, _count={page_size}", page_size, True, False),)
    for strategy in (*STRATEGIES, *extra):
        counter = WireCounter()
        shared = None if strategy.fresh_pool else (FhirPool(transport=counter), counter)
        try:
            await fetch_once(base_url, pid, strategy, shared)  # warm-up (for a warm pool: /metadata is cached now)
            runs = [await fetch_once(base_url, pid, strategy, shared) for _ in range(repeat)]
        finally:
            if shared is not None:
                await shared[0].aclose()
        assert all(r.resources == N_OBSERVATIONS + 2 for r in runs)
        times = [r.seconds for r in runs]
        last = runs[-1]
        print(
            f"{strategy.label:28} {min(times) * 1e3:6.0f}ms {statistics.median(times) * 1e3:6.0f}ms "
            f"{last.requests:8} {last.json_bytes / 1e6:8.2f} {last.wire_bytes / 1e3:8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fhir", metavar="URL", help="a running FHIR server (default: start HAPI here)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--max-page-size", type=int, help="HAPI's _count cap when this script starts it (1000)")
    parser.add_argument("--page-size", type=int, help="also fetch by batch with this _count")
    args = parser.parse_args()
    server: HapiServer | None = None
    if args.fhir is None:
        if args.max_page_size is not None:
            opts = shlex.split(os.environ.get("HAPI_JAVA_OPTS", "")) or list(DEFAULT_JAVA_OPTS)
            os.environ["HAPI_JAVA_OPTS"] = shlex.join([*opts, f"-Dhapi.max-page-size={args.max_page_size}"])
        started = time.perf_counter()
        server = start_hapi()
        print(f"started HAPI FHIR at {server.base_url} in {time.perf_counter() - started:.0f} s")
    try:
        base_url = args.fhir if server is None else server.base_url
        asyncio.run(bench(base_url, args.repeat, args.page_size or args.max_page_size))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
