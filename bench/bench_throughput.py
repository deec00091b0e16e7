"""Benchmark: patient-view hook throughput and latency of `cds-cyto serve` with 1 and 2 workers (issue 15).

    .venv/bin/python bench/bench_throughput.py [--seconds 8] [--rounds 3] [--concurrency 1 8 32] [--workers 1 2]
        [--parse-processes 0 1]

One real `cds-cyto serve --workers N` process per worker count, all started first (auth required, a pinned ES384
key, each its own SQLite file: the replay store its workers share). For each concurrency C, in `--rounds` rounds
that alternate which server goes first (so a change in the machine's other load hits both alike), C clients post
the same 1,500-Observation prefetch (`make_patient_bundle(1500)`, as of day +7; 0.80 MB) to one server for
`--seconds`, every request with its own freshly signed token (signed before the sample, so signing takes no CPU
during it), while another process polls `/healthz` every 50 ms. Printed per (workers, C): requests/s (median of the
rounds, min-max), hook and `/healthz` p50/p99 over all rounds, the server's CPU per request and how many cores it
got (from /proc: the rest went to the load generator and to other jobs), and the 2-worker/1-worker throughput ratio
(of the medians, and the median of the ratios of adjacent samples). The load generator shares the machine with the
server; its requests are prebuilt bytes on raw keep-alive sockets, so it takes a small share of the CPU (printed as
"clients ms CPU/request"). Performance is printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.cds.scenario import hook_request, prefetch_for
from tests.support.patient_bundle import make_patient_bundle
from tests.support.serve import Served, Signer, served

N_OBSERVATIONS = 1500
AS_OF = "2026-03-08"  # day +7 of make_patient_bundle's infusion
PATH = "/cds-services/cyto-patient-view"
HEALTH_EVERY_S = 0.05
WARMUP = 4
_TICK = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def server_cpu(server: Served) -> float:
    """CPU seconds (user + system) used so far by the processes that serve requests (answer pools included)."""
    total = 0
    for pid in server.process_tree():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone since it was listed
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICK


@dataclass
class Sample:
    rate: float
    latencies: list[float]
    health: list[float]
    failures: int
    cpu_per_request: float
    cores: float
    client_cpu_per_request: float


@dataclass
class Cell:
    workers: int
    processes: int  # CDS_CYTO_PARSE_PROCESSES: answer-pool processes per worker (0: in-thread)
    concurrency: int
    samples: list[Sample] = field(default_factory=list)

    def rates(self) -> list[float]:
        return [s.rate for s in self.samples]

    def pooled(self, name: str) -> list[float]:
        return [v for s in self.samples for v in getattr(s, name)]

    def row(self) -> str:
        rates, hook, health = self.rates(), self.pooled("latencies"), self.pooled("health")
        cpu = statistics.median(s.cpu_per_request for s in self.samples) * 1e3
        cores = statistics.median(s.cores for s in self.samples)
        failures = sum(s.failures for s in self.samples)
        return (
            f"| {self.workers} | {self.processes} | {self.concurrency}"
            f" | {statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f})"
            f" | {pct(hook, 0.5) * 1e3:.0f} | {pct(hook, 0.99) * 1e3:.0f}"
            f" | {pct(health, 0.5) * 1e3:.1f} | {pct(health, 0.99) * 1e3:.1f} | {pct(health, 1.0) * 1e3:.0f}"
            f" | {cpu:.1f} | {cores:.2f} | {failures} |"
        )


def poll_health(url: str, stop: Event, out: multiprocessing.Queue[list[float]]) -> None:
    """In its own process, so the clients' event loop cannot delay the probe: what a load balancer would see."""
    latencies: list[float] = []
    with httpx.Client(trust_env=False, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(url + "/healthz")
            latencies.append(time.perf_counter() - started)
            time.sleep(HEALTH_EVERY_S)
    out.put(latencies)


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> int:
    """One keep-alive POST over a raw socket: the request's bytes prebuilt, the answer read by its Content-Length.
    With httpx the generator took 3.0-3.2 ms of CPU per call against the server's 22-26 ms (measured in one run,
    2026-12-03), on the same two cores; this takes 0.5-0.6 ms."""
    writer.write(head)
    writer.write(body)
    await writer.drain()
    status_line, *header_lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    length = next(int(h.split(b":", 1)[1]) for h in header_lines if h.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def load(url: str, body: bytes, tokens: list[str], concurrency: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    host, port = url.removeprefix("http://").split(":")

    async def one_client() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline and tokens:
                head = (
                    f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {tokens.pop()}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                started = time.perf_counter()
                status = await _post(reader, writer, head, body)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failures += 1
        finally:
            writer.close()

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies, failures


def sample(server: Served, signer: Signer, body: bytes, concurrency: int, seconds: float) -> Sample:
    audience = server.url + PATH  # served() sets CDS_CYTO_PUBLIC_BASE_URL to the server's own URL
    tokens = [signer.token(audience) for _ in range(int(seconds * 150) + 50)]  # more than a sample can use
    warmup = [signer.token(audience) for _ in range(WARMUP)]
    asyncio.run(load(server.url, body, warmup, min(concurrency, WARMUP), 60))
    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    poller = ctx.Process(target=poll_health, args=(server.url, stop, out))
    poller.start()
    cpu_before, client_before, started = server_cpu(server), time.process_time(), time.perf_counter()
    latencies, failures = asyncio.run(load(server.url, body, tokens, concurrency, seconds))
    elapsed, cpu = time.perf_counter() - started, server_cpu(server) - cpu_before
    client = time.process_time() - client_before
    stop.set()
    health = out.get(timeout=60)
    poller.join(timeout=30)
    n = max(len(latencies), 1)
    return Sample(len(latencies) / elapsed, latencies, health, failures, cpu / n, cpu / elapsed, client / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="load per sample (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="samples per (workers, concurrency), interleaved")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--parse-processes",
        type=int,
        nargs="+",
        default=[1],
        help="CDS_CYTO_PARSE_PROCESSES values to compare, each its own servers (default: 1, not the service's 2: one "
        "answer process per worker keeps the figure about the serve workers' scaling, the issue-13 measure)",
    )
    args = parser.parse_args()

    resources = [e["resource"] for e in make_patient_bundle(N_OBSERVATIONS, pid="bench-1")["entry"]]
    body = orjson.dumps(hook_request("bench-1", prefetch=prefetch_for(resources)))
    signer = Signer()
    env = {"CDS_CYTO_AUTH": "required", "CDS_CYTO_TRUSTED_ISSUERS": signer.issuers(), "CDS_CYTO_AS_OF": AS_OF}
    print(f"body {len(body) / 1e6:.2f} MB, {os.cpu_count()} CPUs, load average before {os.getloadavg()}")
    variants = [(w, p) for p in args.parse_processes for w in args.workers]
    cells = {(w, p, c): Cell(w, p, c) for c in args.concurrency for w, p in variants}
    paired: dict[tuple[int, int], list[float]] = {(p, c): [] for c in args.concurrency for p in args.parse_processes}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        servers = {
            (w, p): stack.enter_context(
                served(Path(tmp), env | {"CDS_CYTO_PARSE_PROCESSES": str(p)}, "--workers", str(w))
            )
            for w, p in variants
        }
        for c in args.concurrency:
            for r in range(args.rounds):
                order = variants if r % 2 == 0 else list(reversed(variants))
                got: dict[tuple[int, int], float] = {}
                for w, p in order:
                    s = sample(servers[w, p], signer, body, c, args.seconds)
                    cells[w, p, c].samples.append(s)
                    got[w, p] = s.rate
                    print(
                        f"c={c:<3} round {r + 1} workers {w} processes {p}: {s.rate:6.1f} req/s,"
                        f" server {s.cores:.2f} cores, {s.cpu_per_request * 1e3:.1f} ms CPU/request"
                        f" (clients {s.client_cpu_per_request * 1e3:.1f}),"
                        f" /healthz p99 {pct(s.health, 0.99) * 1e3:.0f} ms, non-200 {s.failures}",
                        flush=True,
                    )
                for p in args.parse_processes:
                    if (1, p) in got and (2, p) in got:
                        paired[p, c].append(got[2, p] / got[1, p])
    print(f"load average after {os.getloadavg()}")
    print()
    print(
        "| workers | parse processes | concurrency | requests/s median (min-max) | hook p50 ms | hook p99 ms"
        " | /healthz p50 ms | /healthz p99 ms | /healthz max ms | server CPU ms/request | server cores used | non-200 |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cell in cells.values():
        print(cell.row())
    print()
    for p in args.parse_processes:
        for c in args.concurrency:
            one, two = cells.get((1, p, c)), cells.get((2, p, c))
            if one and two and one.samples and two.samples:
                ratio = statistics.median(two.rates()) / statistics.median(one.rates())
                pairs = ", ".join(f"{x:.2f}" for x in paired[p, c])
                cores = [statistics.median(s.cores for s in cell.samples) for cell in (one, two)]
                print(
                    f"processes {p}, c={c}: 2 workers / 1 worker throughput = {ratio:.2f} (adjacent: {pairs});"
                    f" server cores used {cores[0]:.2f} → {cores[1]:.2f} ({cores[1] / cores[0]:.2f}×)"
                )


if __name__ == "__main__":
    main()
