"""Benchmark: `cds-cyto evaluate DIR` peak memory and collector share at 100 / 1,000 / 10,000 patients.

    .venv/bin/python bench/bench_evaluate_dir.py [--sizes 100 1000 10000] [--dir /tmp/bench-evaluate] [--jobs 2]

Simulates the largest cohort once (`cds-cyto simulate`, default patients), links the first N bundles into a
directory per size, and runs, in a fresh process each:
  * streamed: `cds-cyto evaluate DIR --format ndjson` (what the command does now: each Assessment written as made);
  * held: the same patients assessed into one list first and then written (what `evaluate DIR` did before issue 18),
    with the collector's default settings.
Printed per size and mode: peak RSS (wait4's ru_maxrss of that process), CPU seconds, the share of CPU spent in
the cyclic collector (gc.callbacks), and the ratio of peak RSS to the smallest size's streamed run. Performance is
printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-20"

# Runs in the child: time the collector, then run the command (streamed) or the held variant.
_CHILD = r"""
import gc, sys, time
spent = [0.0, 0.0]
def _cb(phase, info):
    if phase == "start":
        spent[1] = time.process_time()
    else:
        spent[0] += time.process_time() - spent[1]
gc.callbacks.append(_cb)
mode, directory, as_of = sys.argv[1:4]
try:
    if mode == "streamed":
        from cds_cyto.cli import main
        code = main(["evaluate", directory, "--as-of", as_of, "--format", "ndjson"])
    else:
        from datetime import date
        from pathlib import Path
        import orjson
        from cds_cyto.cli.evaluate import assess_file, bundle_files
        from cds_cyto.core.profile import default_profile
        profile = default_profile()
        held = [a for f in bundle_files(Path(directory)) for a in assess_file(f, date.fromisoformat(as_of), profile)]
        for a in held:
            sys.stdout.buffer.write(orjson.dumps(a.to_json()) + b"\n")
        code = 0
finally:
    print(f"GC {spent[0]:.3f} CPU {time.process_time():.3f}", file=sys.stderr)
sys.exit(code)
"""


def cohort(work: Path, n: int, jobs: int) -> Path:
    bundles = work / f"cohort-{n}"
    if not (bundles / "truth.json").exists():
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "cds_cyto", "simulate", "--n", str(n), "--out", str(bundles), "--jobs", str(jobs)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        print(f"simulated {n} patients in {time.perf_counter() - started:.0f} s")
    return bundles


def subset(work: Path, bundles: Path, n: int) -> Path:
    files = sorted(f for f in bundles.glob("*.json") if f.name != "truth.json")[:n]
    target = work / f"dir-{n}"
    target.mkdir(exist_ok=True)
    for f in files:
        link = target / f.name
        if not link.exists():
            link.symlink_to(f)
    return target


def run(mode: str, directory: Path) -> tuple[float, float, float, int]:
    """(peak RSS MB, CPU s, collector CPU s, output lines) of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, mode, str(directory), AS_OF],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode()
        if child.returncode != 0:
            raise SystemExit(f"{mode} {directory}: exit {child.returncode}\n{text[-2000:]}")
        out.seek(0)
        lines = out.read().count(b"\n")
    last = text.strip().splitlines()[-1].split()
    return usage.ru_maxrss / 1024, float(last[3]), float(last[1]), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--dir", type=Path, default=None, help="work directory (kept; the cohort is reused)")
    parser.add_argument("--jobs", type=int, default=2, help="simulate's worker processes")
    parser.add_argument("--modes", nargs="+", default=["streamed", "held"], choices=["streamed", "held"])
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-evaluate-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = sorted(args.sizes)
    bundles = cohort(work, sizes[-1], args.jobs)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    header = ("files", "patients", "mode", "peak RSS", "÷ smallest", "CPU s", "ms/pt", "GC share")
    print("{:>6} {:>8} {:9} {:>9} {:>10} {:>7} {:>6} {:>8}".format(*header))
    smallest: float | None = None
    for n in sizes:
        directory = subset(work, bundles, n)
        for mode in args.modes:
            rss, cpu, gc_cpu, lines = run(mode, directory)  # lines: patients (a file may hold more than one)
            if smallest is None:
                smallest = rss
            print(
                f"{n:6} {lines:8} {mode:9} {rss:7.0f}MB {rss / smallest:10.2f} {cpu:7.1f} {1000 * cpu / lines:6.1f}"
                f" {gc_cpu / cpu:8.1%}"
            )
    print(f"load average at end: {os.getloadavg()[0]:.1f}; work directory {work}")


if __name__ == "__main__":
    main()
