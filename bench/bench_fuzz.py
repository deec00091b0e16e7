"""Type-mutation fuzzing of the hook, longer than the suite's fixed-seed run (issue 15 item 2).

    .venv/bin/python bench/bench_fuzz.py [SEED] [--requests 100000] [--concurrency 8]

Starts a real `cds-cyto serve` (auth disabled, loopback) and a real local FHIR server (a thread) whose answers
are type-mutated, then sends `--requests` hook calls, cases SEED, SEED+1, … (`tests/fuzz/cases.py:hook_case`: one in
eight fetches from the mutating server, the others carry a mutated prefetch or mutated top-level fields). Prints
the answers counted by kind and status, the rate, the seeds answered 5xx or with a non-2xx body that is no
OperationOutcome (replay one with `hook_case(seed, base)`), and exits 1 if there were any. The rate is printed,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fuzz.cases import serve_mutating_fhir
from tests.fuzz.run import FuzzTally, fuzz_hook, serve_process


def _report(tally: FuzzTally, seconds: float) -> None:
    print(f"{tally.total} requests in {seconds:.1f} s ({tally.total / seconds:.0f}/s)")
    for (kind, status), n in sorted(tally.statuses.items()):
        print(f"  {kind:8} {status}  {n}")
    by_status: dict[int, int] = {}
    for (_kind, status), n in tally.statuses.items():
        by_status[status] = by_status.get(status, 0) + n
    print("by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items())))
    print(f"5xx: {len(tally.server_errors)} {tally.server_errors[:50]}")
    print(f"non-2xx without an OperationOutcome: {len(tally.not_outcome)} {tally.not_outcome[:50]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", nargs="?", type=int, default=int(time.time()), help="first case (default: now)")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(f"seed {args.seed}, {args.requests} requests, concurrency {args.concurrency}")
    with tempfile.TemporaryDirectory() as tmp, serve_mutating_fhir() as fhir, serve_process(Path(tmp)) as service:
        started = time.perf_counter()
        seeds = range(args.seed, args.seed + args.requests)
        tally = asyncio.run(fuzz_hook(service, fhir.base, seeds, args.concurrency))
        seconds = time.perf_counter() - started
        log = (Path(tmp) / "serve.log").read_text()
    _report(tally, seconds)
    if "Traceback" in log:
        print("server log holds a traceback:\n" + log[-4000:])
    return 1 if tally.server_errors or tally.not_outcome or "Traceback" in log else 0


if __name__ == "__main__":
    raise SystemExit(main())
