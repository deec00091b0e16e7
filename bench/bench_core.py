"""Benchmark: extract + evaluate of a one-patient Bundle with 1,500 Observations.

Prints the time of `orjson.loads` of the same bytes and the ratio of the whole pipeline, bytes → record →
assessment, to it, all measured in this run: the service's route (`extract_record_json`, which decodes the bytes
itself through `extract.lean`) and the plain dict route (`orjson.loads` → `extract_record`) beside it. Rounds are
interleaved and each figure is the best of N, in wall-clock and in this thread's CPU time (CPU time is less
disturbed by other jobs on the machine). Goal (issue 2): ratio ≤ 2.0. Run: `.venv/bin/python bench/bench_core.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record, extract_record_json
from cds_cyto.core.profile import default_profile
from tests.support.patient_bundle import make_patient_bundle


class Best:
    def __init__(self, label: str, fn: Callable[[], object]) -> None:
        self.label, self.fn = label, fn
        self.wall = self.cpu = float("inf")

    def run(self) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        self.fn()
        self.cpu = min(self.cpu, time.thread_time() - cpu)
        self.wall = min(self.wall, time.perf_counter() - wall)

    def line(self, yardstick: Best | None = None, extra: str = "") -> str:
        text = f"{self.label:40} wall {self.wall * 1e3:7.2f} ms  CPU {self.cpu * 1e3:7.2f} ms"
        if yardstick is not None:
            text += f"   ratio: wall {self.wall / yardstick.wall:5.2f}  CPU {self.cpu / yardstick.cpu:5.2f}"
        return text + extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    body = orjson.dumps(make_patient_bundle(1500))
    profile = default_profile()
    n_obs = sum(1 for e in orjson.loads(body)["entry"] if e["resource"]["resourceType"] == "Observation")
    assert extract_record_json(body, profile) == extract_record(orjson.loads(body), profile)  # one record, two routes
    parsed = orjson.loads(body)
    loads = Best("orjson.loads(bytes)", lambda: orjson.loads(body))
    service = Best(
        "extract_record_json + evaluate",
        lambda: evaluate(extract_record_json(body, profile), None, profile),
    )
    plain = Best(
        "orjson.loads + extract_record + evaluate",
        lambda: evaluate(extract_record(orjson.loads(body), profile), None, profile),
    )
    parsed_only = Best(
        "  extract_record + evaluate (parsed)",
        lambda: evaluate(extract_record(parsed, profile), None, profile),
    )
    for _ in range(args.repeat):
        for measure in (loads, service, plain, parsed_only):
            measure.run()
    print(f"bundle: {n_obs} Observations, {len(body) / 1e6:.2f} MB; best of {args.repeat} interleaved rounds")
    print(loads.line())
    print(service.line(loads, "   (goal ≤ 2.0)"))
    print(plain.line(loads))
    print(parsed_only.line(loads))


if __name__ == "__main__":
    main()
