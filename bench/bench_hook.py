"""Benchmark: the patient-view hook with 1,500 Observations, prefetched and fetched from HAPI FHIR.

    .venv/bin/python bench/bench_hook.py [--fhir URL | --no-fhir] [--repeat 20]

Part 1, in process, no server: a request body with the full prefetch (Patient, Procedure and a searchset of 1,500
Observations; 0.85 MB; the tests' and bench_core's patient, as of day +7). Timed in interleaved rounds, best of N
and median, wall clock and this thread's CPU time (less disturbed by other jobs on the machine), all in this run:
  * `orjson.loads(body)` — the yardstick;
  * `read_hook_body(body)` + `await PatientViewService.handle(parsed)` — what the service does for one call
    besides the HTTP plumbing: reading the body (prefetched lab results decoded lean), validation, prefetch checks,
    extraction, evaluation and cards;
  * the same with `orjson.loads(body)` for the reading (the plain dict route);
  * the whole HTTP request through `httpx.ASGITransport` (no socket): the route, middleware, loads, handle and the
    `orjson.dumps` of the cards;
  * two parts of handle on their own: `PrefetchSource.resolve` and `extract_record` + `evaluate`.
The goal (issue 5) is read + handle ≤ 2.5 × loads.

Part 2, with a FHIR server: the same patient loaded on HAPI, the hook called without the observations (and with
nothing at all) prefetched and `fhirServer` pointing at HAPI. Wall time of `handle` per call and the requests
(round trips) it made. Without --fhir, HAPI is started here (40-60 s) and stopped at the end; --no-fhir skips it.
Performance is printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_fetch import WireCounter
from cds_cyto.app import create_app
from cds_cyto.cds.messages import HookRequest
from cds_cyto.cds.patient_view import PatientViewService
from cds_cyto.cds.request_body import read_hook_body
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.settings import Settings
from cds_cyto.sources import FhirPatientSource, FhirPool, PatientSource, PrefetchSource, render_template
from cds_cyto.sources._query import with_page_size
from tests.cds.scenario import hook_request, prefetch_for
from tests.integration.helpers import load_resources_async, unique_id
from tests.support.hapi import HapiServer, start_hapi
from tests.support.patient_bundle import make_patient_bundle

N_OBSERVATIONS = 1500
SERVICE_ID = "cyto-patient-view"
AS_OF = date(2026, 3, 8)  # day +7 of make_patient_bundle's infusion


@dataclass
class Measure:
    """Wall (perf_counter) and CPU (thread_time) seconds of each run; CPU time is less disturbed by other jobs."""

    label: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    async def run(self, fn: Callable[[], Awaitable[object]], repeat: int = 1) -> None:
        for _ in range(repeat):
            wall, cpu = time.perf_counter(), time.thread_time()
            await fn()
            self.cpu.append(time.thread_time() - cpu)
            self.wall.append(time.perf_counter() - wall)

    def line(self, yardstick: Measure | None = None, extra: str = "") -> str:
        wall, median, cpu = min(self.wall), statistics.median(self.wall), min(self.cpu)
        text = f"{self.label:44} wall best {wall * 1e3:7.2f} ms, median {median * 1e3:7.2f}; CPU best {cpu * 1e3:6.2f}"
        if yardstick is not None:
            text += f"   ratio: wall {wall / min(yardstick.wall):5.2f}, CPU {cpu / min(yardstick.cpu):5.2f}"
        return text + extra


async def in_process(handler: PatientViewService, app: Any, repeat: int) -> None:
    pid = unique_id("benchhook")
    resources = [e["resource"] for e in make_patient_bundle(N_OBSERVATIONS, pid=pid)["entry"]]
    body = orjson.dumps(hook_request(pid, prefetch=prefetch_for(resources)))
    cards = (await handler.handle(orjson.loads(body)))["cards"]  # warm-up, and a check it works
    print(f"request body: {N_OBSERVATIONS} Observations prefetched, {len(body) / 1e6:.2f} MB; {len(cards)} cards")
    parsed = orjson.loads(body)
    definition = handler.definition

    async def loads() -> object:
        return orjson.loads(body)

    async def read_and_handle() -> object:  # the service's route: the body read with lean lab results
        return await handler.handle(read_hook_body(body))

    async def loads_and_handle() -> object:
        return await handler.handle(orjson.loads(body))

    async def prefetch_checks() -> object:  # the first step of handle: which prefetched values can be used
        source = PrefetchSource(parsed["prefetch"], definition.prefetch, context=parsed["context"])
        return await source.resolve(pid)

    usable = (await PrefetchSource(parsed["prefetch"], definition.prefetch).resolve(pid)).resources

    async def extract_and_evaluate() -> object:  # the core's part of handle (bench_core.py measures it alone)
        return evaluate(extract_record(usable, handler.profile), AS_OF, handler.profile)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cds.test") as http:

        async def asgi_request() -> object:
            answer = await http.post(f"/cds-services/{SERVICE_ID}", content=body)
            assert answer.status_code == 200, answer.text
            return answer

        await asgi_request()
        t_loads = Measure("orjson.loads(body)")
        t_service = Measure("read_hook_body + PatientViewService.handle")
        t_handle = Measure("loads + PatientViewService.handle")
        t_asgi = Measure("whole request via httpx.ASGITransport")
        t_prefetch = Measure("  of handle: PrefetchSource.resolve")
        t_core = Measure("  of handle: extract_record + evaluate")
        # Interleaved rounds, so that load from other jobs on the machine hits every measure alike.
        for _ in range(repeat):
            await t_loads.run(loads, 3)
            await t_service.run(read_and_handle)
            await t_handle.run(loads_and_handle)
            await t_asgi.run(asgi_request)
            await t_prefetch.run(prefetch_checks)
            await t_core.run(extract_and_evaluate)
    print(t_loads.line())
    print(t_service.line(t_loads, "   (goal ≤ 2.5)"))
    print(t_handle.line(t_loads))
    print(t_asgi.line(t_loads))
    print(t_prefetch.line(t_loads))
    print(t_core.line(t_loads))


async def raw_fetch(http: httpx.AsyncClient, base_url: str, urls: list[str], batch: bool) -> int:
    """The minimum: the same queries sent straight with httpx, bodies parsed by orjson, next pages followed;
    no limits, no checks, no reading. Returns the resources received."""

    async def follow(page: dict[str, Any]) -> int:
        n = len(page.get("entry") or [])
        while nxt := next((lk["url"] for lk in page.get("link") or [] if lk.get("relation") == "next"), None):
            page = orjson.loads((await http.get(nxt)).content)
            n += len(page.get("entry") or [])
        return n

    if batch:
        request = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": u}} for u in urls],
        }
        answer = orjson.loads((await http.post(base_url, content=orjson.dumps(request), headers=_FHIR_HEADERS)).content)
        pages = [e["resource"] for e in answer["entry"]]
    else:
        replies = await asyncio.gather(*(http.get(f"{base_url}/{u}", headers=_FHIR_HEADERS) for u in urls))
        pages = [orjson.loads(r.content) for r in replies]
    return sum([await follow(p) if p.get("resourceType") == "Bundle" else 1 for p in pages])


_FHIR_HEADERS = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}


async def from_fhir(handler: PatientViewService, base_url: str, repeat: int) -> None:
    pid = unique_id("benchhook")
    resources = [e["resource"] for e in make_patient_bundle(N_OBSERVATIONS, pid=pid)["entry"]]
    started = time.perf_counter()
    await load_resources_async(base_url, resources)
    print(
        f"\nloaded {pid} on {base_url} in {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f}"
    )
    context = {"patientId": pid}
    urls = [
        with_page_size(u, handler.page_size)
        for t in handler.definition.prefetch.values()
        if (u := render_template(t, context, pid)) is not None
    ]
    full = prefetch_for(resources)
    no_obs = {k: v for k, v in full.items() if k != "observations"}
    # Now (batch, _count = CDS_CYTO_FHIR_PAGE_SIZE) and before issue 18 (each template its own GET with its
    # _count=1000), both on the service's code, on pools of their own.
    now_pool, before_pool = FhirPool(transport=WireCounter()), FhirPool(transport=WireCounter())
    before_pool.batch_support[base_url.rstrip("/")] = False
    now = dataclasses.replace(handler, pool=now_pool)
    before = _BeforeService(**{f.name: getattr(handler, f.name) for f in dataclasses.fields(handler)})
    before.pool = before_pool

    calls: list[tuple[Measure, Callable[[], Awaitable[object]]]] = []
    async with httpx.AsyncClient(timeout=60, headers={"Accept-Encoding": "gzip"}) as http:
        for label, batch in (("raw minimum: one batch POST", True), ("raw minimum: parallel GETs", False)):
            calls.append((Measure(label), functools.partial(raw_fetch, http, base_url, urls, batch)))
        for label, prefetch in (("no prefetch", None), ("prefetch without observations", no_obs)):
            body = hook_request(pid, prefetch=prefetch, fhirServer=base_url)
            calls.append((Measure(f"hook now, {label}"), functools.partial(now.handle, body)))
            calls.append((Measure(f"hook before issue 18, {label}"), functools.partial(before.handle, body)))
        try:
            for _, fn in calls:
                await fn()  # warm-up: /metadata cached, HAPI's caches warm
            counters = {id(m): 0 for m, _ in calls}
            for _ in range(repeat):  # interleaved, so the machine's load hits every row alike
                for measure, fn in calls:
                    counted = _requests(now_pool) + _requests(before_pool)
                    await measure.run(fn)
                    counters[id(measure)] += _requests(now_pool) + _requests(before_pool) - counted
            raw = min(calls[:2], key=lambda c: min(c[0].wall))[0]
            for measure, _ in calls:
                per_call = counters[id(measure)] / repeat
                extra = f"; {per_call:.0f} requests per call" if measure.label.startswith("hook") else ""
                print(measure.line(raw if measure is not raw else None, extra))
            print(f"(ratios to '{raw.label}', the faster raw route; goal: hook no prefetch ≤ 1.2)")
        finally:
            await now_pool.aclose()
            await before_pool.aclose()


def _requests(pool: FhirPool) -> int:
    transport = pool._transport
    return transport.requests if isinstance(transport, WireCounter) else 0


class _OneByOne:
    """A fetching source without `query_many`: PrefetchSource sends each template as it is, one GET each."""

    def __init__(self, inner: FhirPatientSource) -> None:
        self.inner = inner

    async def patient_resources(self, patient_id: str) -> list[Any]:
        return await self.inner.patient_resources(patient_id)

    async def query(self, relative_url: str) -> list[dict[str, Any]]:
        return await self.inner.query(relative_url)


@dataclasses.dataclass
class _BeforeService(PatientViewService):
    """The hook as before issue 18: the templates' own `_count` (1000), one GET per template."""

    def _fhir_source(self, server: str, request: HookRequest) -> PatientSource:
        inner = super()._fhir_source(server, request)
        assert isinstance(inner, FhirPatientSource)
        return _OneByOne(inner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fhir", metavar="URL", help="a running FHIR server (default: start HAPI here)")
    parser.add_argument("--no-fhir", action="store_true", help="only the in-process part")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            auth="disabled",
            database_url=f"sqlite:///{Path(tmp) / 'store.sqlite'}",
            demo_dir=Path(tmp) / "no-demo",
            as_of=AS_OF,
            log_level="WARNING",
        )
        app = create_app(settings)
        handler: PatientViewService = app.state.runtime.handlers[SERVICE_ID]
        asyncio.run(in_process(handler, app, args.repeat))
        if args.no_fhir:
            return
        server: HapiServer | None = None
        if args.fhir is None:
            started = time.perf_counter()
            server = start_hapi()
            print(f"\nstarted HAPI FHIR at {server.base_url} in {time.perf_counter() - started:.0f} s")
        try:
            base_url = args.fhir if server is None else server.base_url
            asyncio.run(from_fhir(handler, base_url, max(3, args.repeat // 4)))
        finally:
            if server is not None:
                server.stop()
            app.state.runtime.store.dispose()


if __name__ == "__main__":
    main()
