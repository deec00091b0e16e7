"""Benchmark: `/healthz` latency while a real `cds-cyto serve` (auth required, the hostile suite's limits) is under
hostile and heavy load — the issue 15 goal is `/healthz` under 100 ms throughout.

    .venv/bin/python bench/bench_hostile.py [--seconds 15] [--concurrency 4]

The same servers as tests/hostile: the hostile FHIR server and `cds-cyto serve`, each a subprocess. `/healthz` is
polled every 10 ms over one kept-alive connection in three phases, all in this run:
  * idle — the yardstick;
  * hostile — `--concurrency` hook calls at a time whose fhirServer streams 300 MB, sends 200k entries, 10 MB pages
    to the call's byte budget, trickles, hangs or sends wrong types;
  * prefetch — `--concurrency` hook calls at a time with a full prefetch of 1,500 Observations (0.85 MB, parsed
    and evaluated on the service's worker threads).
Prints median, p99 and max per phase, the ratio of each phase's p99 to idle's, the peak RSS growth and each
phase's hook-call statuses. Performance is printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cds.scenario import prefetch_for
from tests.hostile.conftest import MIB, Service, hook_body, running_hostile, running_service
from tests.support.patient_bundle import make_patient_bundle

HOSTILE_MODES = ("huge", "many", "budget", "trickle", "hang", "types")


def _load(seconds: float, concurrency: int, one: Callable[[int], int]) -> Counter[int]:
    """`concurrency` threads calling `one(i)` until `seconds` have passed; the statuses it returned."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    until = time.monotonic() + seconds

    def worker(w: int) -> None:
        i = w
        while time.monotonic() < until:
            status = one(i)
            with lock:
                statuses[status] += 1
            i += concurrency

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def _figures(ms: list[float]) -> tuple[float, float, float]:
    ordered = sorted(ms)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return statistics.median(ordered), p99, ordered[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each loaded phase")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    bundle = make_patient_bundle(1500)
    resources = [e["resource"] for e in bundle["entry"]]
    prefetched = json.dumps(hook_body(None, pid=resources[0]["id"], prefetch=prefetch_for(resources))).encode()

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_hostile() as hostile,
        running_service(hostile, Path(tmp), poll_s=1.0) as svc,  # its own poller only samples RSS here
    ):
        phases: list[tuple[str, list[float], Counter[int]]] = []

        def phase(name: str, run: Callable[[], Counter[int]]) -> None:
            # /healthz is polled from another process: a poller sharing the load threads' GIL would time them
            stop = multiprocessing.Event()
            results: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
            poller = multiprocessing.Process(target=_poll, args=(svc.base, stop, results))
            poller.start()
            statuses = run()
            stop.set()
            phases.append((name, results.get(timeout=30), statuses))
            poller.join()

        phase("idle", lambda: (time.sleep(3.0), Counter[int]())[1])

        def hostile_call(i: int) -> int:
            return _status(svc, hook_body(hostile.base(HOSTILE_MODES[i % len(HOSTILE_MODES)])))

        phase("hostile", lambda: _load(args.seconds, args.concurrency, hostile_call))
        phase("prefetch", lambda: _load(args.seconds, args.concurrency, lambda _i: _status(svc, prefetched)))

        print(f"/healthz every 10 ms; hook calls {args.concurrency} at a time; {args.seconds:g} s per phase")
        print(f"{'phase':10} {'polls':>6} {'median ms':>10} {'p99 ms':>8} {'max ms':>8} {'p99/idle':>9}  hook statuses")
        idle_p99 = _figures(phases[0][1])[1]
        for name, ms, statuses in phases:
            median, p99, worst = _figures(ms)
            calls = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())) or "-"
            print(f"{name:10} {len(ms):6d} {median:10.1f} {p99:8.1f} {worst:8.1f} {p99 / idle_p99:9.1f}  {calls}")
        loaded = [m for _, ms, _ in phases[1:] for m in ms]
        median, p99, worst = _figures(loaded)
        print(f"under load: p99 {p99:.1f} ms, max {worst:.1f} ms (goal: under 100 ms); failures {svc.health_failures}")
        print(f"peak RSS growth {(svc.peak_rss - svc.baseline_rss) / MIB:.0f} MiB")
    return 0


def _poll(base: str, stop: Any, results: Any) -> None:
    """In its own process: GET /healthz every 10 ms over one kept-alive connection until `stop`; the latencies."""
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/healthz")
            latencies.append((time.perf_counter() - started) * 1000)
            stop.wait(0.01)
    results.put(latencies)


def _status(svc: Service, body: dict[str, Any] | bytes) -> int:
    r, _ = svc.call(body)
    return r.status_code


if __name__ == "__main__":
    sys.exit(main())
