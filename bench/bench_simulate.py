"""Time `cds-cyto simulate` for a cohort (default 1,000 patients) and print patients/s and MB/s.

    .venv/bin/python bench/bench_simulate.py [--n 1000] [--format bundles|ndjson] [--jobs 1] [--mess default]

Writes to a temporary directory that is removed afterwards. Performance is printed, never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cds_cyto.simulate import CohortSpec, dense_patient, write_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--format", choices=("bundles", "ndjson"), default="bundles")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--mess", choices=("none", "default", "heavy"), default="default")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()

    spec = CohortSpec(n=args.n, disease="mixed", seed=args.seed, mess=args.mess)
    with tempfile.TemporaryDirectory() as tmp:
        summary = write_cohort(spec, Path(tmp), args.format, jobs=args.jobs)
    print(
        f"{summary.patients} patients, {summary.resources} resources ({summary.observations} Observations), "
        f"{summary.bytes_written / 1e6:.0f} MB as {args.format} with {args.jobs} job(s): {summary.seconds:.1f} s "
        f"({summary.patients / summary.seconds:.0f} patients/s, "
        f"{summary.bytes_written / 1e6 / summary.seconds:.0f} MB/s)"
    )
    started = time.perf_counter()
    patient = dense_patient()
    resources = patient.resources()
    print(
        f"dense benchmark patient: {len(patient.charted)} Observations, {len(resources)} resources in "
        f"{1000 * (time.perf_counter() - started):.0f} ms"
    )


if __name__ == "__main__":
    main()
