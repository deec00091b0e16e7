"""Benchmark `cds-cyto analyze`: simulate N patients (default 10,000), analyse them, print time and peak RSS.

    .venv/bin/python bench/bench_analyze.py --n 10000 [--jobs 2] [--dir /tmp/bench-analyze]

Rows are streamed from a process pool (one bundle per task), so memory grows with the rows, not with the bundles.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from cds_cyto.cli import main as cli_main
from cds_cyto.simulate import CohortSpec, write_cohort


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--disease", choices=("all", "nhl"), default="all")
    p.add_argument("--dir", type=Path, default=None)
    args = p.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    t0 = time.perf_counter()
    write_cohort(CohortSpec(n=args.n, disease=args.disease), work / "bundles", jobs=args.jobs or 2)
    t1 = time.perf_counter()
    jobs = [] if args.jobs is None else ["--jobs", str(args.jobs)]
    rc = cli_main(
        ["analyze", "--bundles", str(work / "bundles"), "--out", str(work / "out"), "--disease", args.disease, *jobs]
    )
    t2 = time.perf_counter()
    own, children = _peak_rss_mb()
    print(f"patients: {args.n}")
    print(f"simulate: {t1 - t0:.1f} s")
    print(f"analyze:  {t2 - t1:.1f} s ({1000 * (t2 - t1) / args.n:.1f} ms/patient)")
    print(f"peak RSS: main process {own:.0f} MB, largest child {children:.0f} MB")
    print(f"output:   {work / 'out' / 'report.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
