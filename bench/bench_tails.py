"""Benchmark: hook latency tails with the start-up objects frozen out of the collector, and without.

    .venv/bin/python bench/bench_tails.py [--calls 300] [--rounds 3] [--large 15000]

The app is built as `cds-cyto serve --demo` builds it (`create_app`: the demo cohort loaded, then
`tune_for_latency`: gc thresholds raised and `gc.freeze()`), answers in this process (`CDS_CYTO_PARSE_PROCESSES=0`),
and is called through `httpx.ASGITransport` (route, middleware, reading, handle, the JSON answer; no socket):
  * demo calls: each demo patient in turn, no prefetch (the demo source), `--calls` per block;
  * large calls: one patient of `--large` Observations fully prefetched (tests/support/patient_bundle.py).
Modes, in interleaved blocks of `--rounds` rounds, so the machine's load hits both alike:
  * frozen: as built;
  * unfrozen: `gc.unfreeze()` and the interpreter's default thresholds (700, 10, 10) — the collector as it is
    without the start-up tuning.
Printed per mode and kind: p50, p99, max (ms), p99 ÷ p50, and the share of the wall time spent in the collector
(gc.callbacks). Performance is printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cds_cyto.app import create_app
from cds_cyto.cds.interpreter import GC_THRESHOLDS
from cds_cyto.settings import Settings
from tests.cds.scenario import hook_request, prefetch_for
from tests.support.patient_bundle import make_patient_bundle

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "/cds-services/cyto-patient-view"
DEFAULT_THRESHOLDS = (700, 10, 10)


class GcClock:
    """Wall seconds spent in the cyclic collector."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.spent += time.perf_counter() - self._start


def set_mode(mode: str) -> None:
    gc.collect()
    if mode == "frozen":
        gc.set_threshold(*GC_THRESHOLDS)
        gc.freeze()
    else:
        gc.unfreeze()
        gc.set_threshold(*DEFAULT_THRESHOLDS)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(app: Any, demo_ids: list[str], large: bytes, calls: int, rounds: int) -> None:
    clock = GcClock()
    times: dict[tuple[str, str], list[float]] = {}
    in_gc: dict[tuple[str, str], float] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cds.test") as http:

        async def call(body: bytes) -> float:
            started = time.perf_counter()
            answer = await http.post(SERVICE, content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 200, answer.text
            return time.perf_counter() - started

        demo_bodies = [orjson.dumps(hook_request(pid)) for pid in demo_ids]
        for body in [*demo_bodies[:5], large]:
            await call(body)  # warm-up
        for _ in range(rounds):
            for mode in ("frozen", "unfrozen"):
                set_mode(mode)
                for kind, bodies in (("demo", demo_bodies), ("large", [large])):
                    n = calls if kind == "demo" else max(5, calls // 20)
                    before = clock.spent
                    wall = 0.0
                    for i in range(n):
                        seconds = await call(bodies[i % len(bodies)])
                        times.setdefault((mode, kind), []).append(seconds)
                        wall += seconds
                    in_gc[(mode, kind)] = in_gc.get((mode, kind), 0.0) + clock.spent - before
    set_mode("frozen")
    print(f"{'mode':9} {'calls':6} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99÷p50':>8} {'in GC':>6}")
    for (mode, kind), values in sorted(times.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        p50, p99 = statistics.median(values), quantile(values, 0.99)
        share = in_gc[(mode, kind)] / sum(values)
        print(
            f"{mode:9} {kind:6} {len(values):5} {p50 * 1e3:8.1f} {p99 * 1e3:8.1f} {max(values) * 1e3:8.1f}"
            f" {p99 / p50:8.2f} {share:6.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="demo calls per block")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large", type=int, default=15_000, help="Observations of the large prefetched call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            auth="disabled",
            demo=True,
            database_url=f"sqlite:///{Path(tmp) / 'store.sqlite'}",
            demo_dir=ROOT / "fixtures" / "cohort",
            parse_processes=0,
            log_level="WARNING",
        )
        app = create_app(settings)
        runtime = app.state.runtime
        demo_ids = asyncio.run(runtime.handlers["cyto-patient-view"].demo_source.patient_ids())
        resources = [e["resource"] for e in make_patient_bundle(args.large, pid="bench-tails")["entry"]]
        large = orjson.dumps(hook_request("bench-tails", prefetch=prefetch_for(resources)))
        print(
            f"demo cohort: {len(demo_ids)} patients; large call: {args.large} Observations, {len(large) / 1e6:.1f} MB;"
            f" frozen objects at start: {gc.get_freeze_count()}; load average {os.getloadavg()[0]:.1f}"
        )
        try:
            asyncio.run(bench(app, demo_ids, large, args.calls, args.rounds))
        finally:
            runtime.store.dispose()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
