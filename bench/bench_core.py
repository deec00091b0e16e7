"""Benchmark: extract + evaluate of a one-patient Bundle with 1,500 Observations.

Prints the time of `orjson.loads` of the same bytes and the ratio of the whole pipeline (loads → extract →
evaluate) to it, both measured in this run (best of N repetitions, so other load on the machine matters less).
Goal (issue 2): ratio ≤ 2.0. Run: `.venv/bin/python bench/bench_core.py`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cds_cyto.assess import evaluate
from cds_cyto.extract import extract_record
from cds_cyto.profile import default_profile
from tests.support.patient_bundle import make_patient_bundle


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(repeat: int = 40) -> None:
    body = orjson.dumps(make_patient_bundle(1500))
    profile = default_profile()
    n_obs = sum(1 for e in orjson.loads(body)["entry"] if e["resource"]["resourceType"] == "Observation")
    evaluate(extract_record(orjson.loads(body), profile), None, profile)  # warm caches

    loads = best_of(lambda: orjson.loads(body), repeat)
    parsed = orjson.loads(body)
    core = best_of(lambda: evaluate(extract_record(parsed, profile), None, profile), repeat)
    pipeline = best_of(lambda: evaluate(extract_record(orjson.loads(body), profile), None, profile), repeat)
    print(f"bundle: {n_obs} Observations, {len(body) / 1e6:.2f} MB")
    print(f"orjson.loads:                      {loads * 1e3:8.2f} ms")
    print(f"extract + evaluate (parsed input): {core * 1e3:8.2f} ms   ratio to loads {core / loads:5.2f}")
    print(
        f"loads + extract + evaluate:        {pipeline * 1e3:8.2f} ms   ratio to loads {pipeline / loads:5.2f}"
        "  (goal ≤ 2.0)"
    )


if __name__ == "__main__":
    main()
