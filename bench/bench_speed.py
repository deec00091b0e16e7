"""Benchmark: issue 18's figures side by side in one run, as ratios measured in the same run.

    .venv/bin/python bench/bench_speed.py [--fhir URL --fhir-pid PID] [--requests 160] [--repeat 8] [--patients 30]

1. The hook over HTTP with a full 1,500-Observation prefetch (`cds-cyto serve`, its default settings) against a
   parse-only floor (uvicorn with an app that reads the body, `orjson.loads` it and answers `{"cards": []}`), at
   concurrency 1 and 8, in alternating blocks of four requests per caller: p50 / p99 and hook ÷ floor (goal ≤ 2.0;
   p99 ≤ 3 × p50).
2. On HAPI, the same patient with nothing prefetched: the swept-patient hook (the sweep's snapshot + one verifying
   batch), the full fetching hook (CDS_CYTO_HOOK_SWEPT_SNAPSHOTS=false) and the raw minimum query set (one batch
   POST with httpx + orjson), interleaved; medians and ratios to the raw set (goals: swept ≤ 150 ms, fetching
   ≤ 1.2 × raw).
3. `bench_sweep.py` on the same HAPI: a re-sweep with nothing changed against a full sweep, in HAPI's CPU read
   from /proc (goal ≤ 0.2).

Without --fhir, HAPI is started here (40-65 s) and stopped at the end. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_hook import AS_OF, N_OBSERVATIONS, SERVICE_ID, raw_fetch
from cds_cyto.app import create_app
from cds_cyto.core.profile import default_profile
from cds_cyto.settings import Settings
from cds_cyto.sources import render_template
from cds_cyto.sources._query import with_page_size
from cds_cyto.sources._swept import CLOCK_MARGIN
from cds_cyto.store import Store
from cds_cyto.sweep import CohortQuery, SweepConfig, run_sweep
from tests.cds.scenario import hook_request, prefetch_for
from tests.integration.helpers import load_resources_async, unique_id
from tests.support.hapi import HapiServer, start_hapi
from tests.support.patient_bundle import make_patient_bundle

ROOT = Path(__file__).resolve().parent.parent
FLOOR_APP = """
import orjson, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    orjson.loads(body)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"cards": []}'})
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _block(http: httpx.AsyncClient, url: str, body: bytes, n: int, concurrency: int) -> list[float]:
    """`n` POSTs of `body`, `concurrency` in flight; each one's latency in seconds."""
    latencies: list[float] = []
    left = n
    headers = {"Content-Type": "application/json"}

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            started = time.perf_counter()
            reply = await http.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if reply.status_code != 200:
                raise SystemExit(f"{url}: HTTP {reply.status_code}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def _interleaved(urls: dict[str, str], body: bytes, per_row: int, concurrency: int) -> dict[str, list[float]]:
    """`per_row` POSTs of `body` to each URL, `concurrency` in flight, in alternating blocks of four per caller:
    this machine's speed drifts by up to 1.5x from one minute to the next, and blocks of seconds caught the servers
    in different phases (c = 1 ratios of 1.4 to 2.3 in five runs); short blocks put the drift on both alike."""
    block = 4 * concurrency
    got: dict[str, list[float]] = {name: [] for name in urls}
    limits = httpx.Limits(max_connections=concurrency)
    async with contextlib.AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(httpx.AsyncClient(timeout=60, limits=limits)) for name in urls}
        for name, url in urls.items():
            await _block(clients[name], url, body, block, concurrency)  # warm-up: connections, caches
        for start in range(0, per_row, block):
            for name, url in urls.items():
                got[name] += await _block(clients[name], url, body, min(block, per_row - start), concurrency)
    return got


def part_http(tmp: Path, requests: int) -> None:
    pid = unique_id("benchspeed")
    resources = [e["resource"] for e in make_patient_bundle(N_OBSERVATIONS, pid=pid)["entry"]]
    body = orjson.dumps(hook_request(pid, prefetch=prefetch_for(resources)))
    hook_port, floor_port = _free_port(), _free_port()
    env = os.environ | {
        "CDS_CYTO_AUTH": "disabled",
        "CDS_CYTO_DATABASE_URL": f"sqlite:///{tmp / 'serve.sqlite'}",
        "CDS_CYTO_DEMO_DIR": str(tmp / "no-demo"),
        "CDS_CYTO_AS_OF": AS_OF.isoformat(),
        "CDS_CYTO_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    serve = [sys.executable, "-m", "cds_cyto", "serve", "--port", str(hook_port)]
    servers = [
        subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(floor_port)], stderr=subprocess.DEVNULL),
    ]
    try:
        _wait_up(f"http://127.0.0.1:{hook_port}/healthz")
        _wait_up(f"http://127.0.0.1:{floor_port}/")
        urls = {
            "hook": f"http://127.0.0.1:{hook_port}/cds-services/{SERVICE_ID}",
            "floor": f"http://127.0.0.1:{floor_port}/",
        }
        got = {c: asyncio.run(_interleaved(urls, body, requests, c)) for c in (1, 8)}
        print(f"\n1. hook over HTTP, {len(body) / 1e6:.2f} MB prefetch, {requests} requests per row, interleaved")
        for c in (1, 8):
            hook, floor = got[c]["hook"], got[c]["floor"]
            h50, h99, f50, f99 = _pct(hook, 0.5), _pct(hook, 0.99), _pct(floor, 0.5), _pct(floor, 0.99)
            print(
                f"   c={c}: hook p50 {h50 * 1e3:6.1f} ms p99 {h99 * 1e3:6.1f}; floor p50 {f50 * 1e3:6.1f} p99"
                f" {f99 * 1e3:6.1f}; hook ÷ floor p50 {h50 / f50:4.2f} (goal ≤ 2.0); hook p99 ÷ p50 {h99 / h50:4.2f}"
                " (goal ≤ 3)"
            )
        print(f"   load average {os.getloadavg()[0]:.1f}")
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


async def part_swept(tmp: Path, base_url: str, repeat: int) -> None:
    pid = unique_id("benchswept")
    resources = [e["resource"] for e in make_patient_bundle(N_OBSERVATIONS, pid=pid)["entry"]]
    await load_resources_async(base_url, resources)
    # The hook asks for changes from CLOCK_MARGIN (120 s) before the sweep's check at the latest: a snapshot taken
    # right after the load would see everything as changed. A daily sweep finds data loaded long before.
    # One load stamps all 1,500 alike and the hook asks from the newest stamp on: as on a real server, where the
    # latest result is newer than the rest, one Observation gets a later version (same value, count unchanged).
    await asyncio.sleep(1.5)
    latest = next(r for r in resources if r["resourceType"] == "Observation")
    async with httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=60) as http:
        reply = await http.put(f"Observation/{latest['id']}", json=latest | {"issued": "2026-03-09T08:00:00Z"})
        assert reply.status_code == 200, reply.text
    await asyncio.sleep(CLOCK_MARGIN.total_seconds() + 2)
    database = f"sqlite:///{tmp / 'sweep.sqlite'}"
    store = Store(database)
    store.create_schema()
    config = SweepConfig(fhir_base_url=base_url, as_of=AS_OF, cohort=CohortQuery(patient_ids=(pid,)))
    report = await run_sweep(config, store, default_profile())
    store.dispose()
    assert report.evaluated == 1, report.summary()
    apps = {
        on: create_app(
            Settings(
                auth="disabled",
                database_url=database,
                demo_dir=tmp / "no-demo",
                as_of=AS_OF,
                log_level="WARNING",
                parse_processes=0,
                hook_swept_snapshots=on,
            )
        )
        for on in (True, False)
    }
    swept, full = (apps[on].state.runtime.handlers[SERVICE_ID] for on in (True, False))
    body = hook_request(pid, fhirServer=base_url)
    body.pop("prefetch", None)
    urls = [
        with_page_size(u, full.page_size)
        for t in full.definition.prefetch.values()
        if (u := render_template(t, {"patientId": pid}, pid)) is not None
    ]
    used: list[bool] = []
    real = swept._swept

    async def watched(*args: Any) -> Any:
        found = await real(*args)
        used.append(found is not None)
        return found

    swept._swept = watched  # the hook as it runs, watched: did the snapshot answer?
    times: dict[str, list[float]] = {"swept-patient hook": [], "full fetching hook": [], "raw minimum set": []}
    async with httpx.AsyncClient(timeout=60) as http:
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "swept-patient hook": functools.partial(swept.handle, body, None, ""),
            "full fetching hook": functools.partial(full.handle, body, None, ""),
            "raw minimum set": functools.partial(raw_fetch, http, base_url, urls, True),
        }
        for fn in calls.values():
            await fn()  # warm-up
        for _ in range(repeat):
            for label, fn in calls.items():
                started = time.perf_counter()
                await fn()
                times[label].append(time.perf_counter() - started)
    for a in apps.values():
        await a.state.runtime.aclose()
    raw = statistics.median(times["raw minimum set"])
    print(f"\n2. one {N_OBSERVATIONS}-Observation patient, nothing prefetched, HAPI; {repeat} interleaved calls each")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"   {label:20} median {median * 1e3:7.1f} ms, best {min(values) * 1e3:7.1f}; ÷ raw {median / raw:4.2f}")
    print(f"   snapshot answered {sum(used)} of {len(used)} swept calls; goals: swept ≤ 150 ms, fetching ≤ 1.2 × raw")
    print(f"   load average {os.getloadavg()[0]:.1f}")


def part_sweep(base_url: str, pid: int | None, patients: int) -> None:
    print(f"\n3. bench_sweep.py --patients {patients} (re-sweep with nothing changed vs a full sweep, HAPI's CPU)")
    args = [sys.executable, str(ROOT / "bench" / "bench_sweep.py"), "--fhir", base_url, "--patients", str(patients)]
    if pid is not None:
        args += ["--fhir-pid", str(pid)]
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=os.environ | {"PYTHONPATH": str(ROOT)})
    for line in done.stdout.splitlines():
        print("   " + line)
    if done.returncode != 0:
        print("   bench_sweep failed: " + done.stderr[-800:])
    print(f"   load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fhir", metavar="URL", help="a running FHIR server (default: start HAPI here)")
    parser.add_argument("--fhir-pid", type=int, help="the --fhir server's process id, for its CPU time")
    parser.add_argument("--requests", type=int, default=160, help="per row in part 1")
    parser.add_argument("--repeat", type=int, default=8, help="calls per row in part 2")
    parser.add_argument("--patients", type=int, default=30, help="cohort of part 3 (loading it dominates)")
    args = parser.parse_args()
    print(f"load average at start {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        part_http(tmp, args.requests)
        server: HapiServer | None = None
        if args.fhir is None:
            started = time.perf_counter()
            server = start_hapi()
            print(f"\nstarted HAPI FHIR at {server.base_url} in {time.perf_counter() - started:.0f} s")
        try:
            base_url = args.fhir if server is None else server.base_url
            asyncio.run(part_swept(tmp, base_url, args.repeat))
            part_sweep(base_url, args.fhir_pid if server is None else server.pid, args.patients)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
