"""`cds-cyto simulate`: a synthetic CAR-T cohort as FHIR R4 with ground truth, or its calibration report.

cds-cyto simulate --n 40 --disease mixed --seed 20261122 --out DIR [--format bundles|ndjson]
                  [--mess none|default|heavy] [--anchor 2026-06-01] [--data-cut YYYY-MM-DD]
cds-cyto simulate --calibration-report [--n 1000] [--seed S] [--disease ...] [--format text|json]
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any, cast

import orjson

from cds_cyto.cli import CliError
from cds_cyto.cli.common import add_disease_argument
from cds_cyto.simulate import (
    DEFAULT_ANCHOR,
    MESS_LEVELS,
    CohortSpec,
    DiseaseChoice,
    OutputFormat,
    calibration_report,
    write_cohort,
)

__all__ = ["register", "run"]

_COHORT_FORMATS = ("bundles", "ndjson")
_REPORT_FORMATS = ("text", "json")


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _simulated(disease: str) -> DiseaseChoice:
    """The simulator's name of a --disease value ("ALL" → "all", "mixed" stays)."""
    return cast(DiseaseChoice, disease.lower())


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write a synthetic CAR-T cohort (FHIR R4 + truth.json), or its calibration report",
        description=(
            "Synthetic CAR-T cohort calibrated to the seed papers (000: B-ALL, 001: B-NHL): one FHIR transaction "
            "Bundle per patient (or NDJSON per resource type) and truth.json with the ground truth."
        ),
    )
    parser.add_argument("--n", type=int, default=None, help="patients (cohort: default 40; report: 1000 per disease)")
    add_disease_argument(
        parser,
        ("ALL", "NHL"),
        "the cohort: B-ALL (seed 000), B-NHL (seed 001) or mixed (alternating)",
        "mixed",
        "mixed",
    )
    parser.add_argument("--seed", type=int, default=20261122, help="random seed: the same seed, the same cohort")
    parser.add_argument("--out", type=Path, help="output directory (created; earlier cohort files replaced)")
    parser.add_argument(
        "--format",
        choices=_COHORT_FORMATS + _REPORT_FORMATS,
        default=None,
        help="cohort: bundles (default) or ndjson; report: text (default) or json",
    )
    parser.add_argument("--mess", choices=tuple(MESS_LEVELS), default="none", help="injected data problems")
    parser.add_argument(
        "--anchor",
        type=_iso_date,
        default=DEFAULT_ANCHOR,
        help=f"first infusion date (default {DEFAULT_ANCHOR.isoformat()})",
    )
    parser.add_argument(
        "--data-cut",
        type=_iso_date,
        default=None,
        help="drop everything after this date (some patients are then mid-course)",
    )
    parser.add_argument(
        "--mid-course",
        type=int,
        default=None,
        help="with --data-cut: patients infused 3-25 days before the cut (default n // 8)",
    )
    parser.add_argument(
        "--dense", action="store_true", help="chart about 1,500 Observations per patient (benchmark patients)"
    )
    parser.add_argument(
        "--no-early-death",
        action="store_true",
        help="no patient dies early (by default about 3 in 63 die before day +28, as in seed 001)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--calibration-report",
        action="store_true",
        help="print simulated vs published statistics with tolerance and PASS/FAIL",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.n is not None and args.n < 1:
        raise CliError("--n must be at least 1")
    if args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    if args.calibration_report:
        return _report(args)
    return _cohort(args)


def _report(args: argparse.Namespace) -> int:
    fmt = args.format or "text"
    if fmt not in _REPORT_FORMATS:
        raise CliError(f"--format {fmt} is for a cohort; the report is text or json")
    report = calibration_report(n=args.n or 1000, seed=args.seed, disease=_simulated(args.disease), jobs=args.jobs)
    if fmt == "json":
        sys.stdout.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(report.to_text())
    return 0 if report.passed else 1


def _cohort(args: argparse.Namespace) -> int:
    if args.format not in (None, *_COHORT_FORMATS):
        raise CliError(f"--format {args.format} is for the calibration report; a cohort is bundles or ndjson")
    fmt: OutputFormat = "ndjson" if args.format == "ndjson" else "bundles"
    if args.out is None:
        raise CliError("--out DIR is required (or use --calibration-report)")
    if args.mid_course is not None and args.data_cut is None:
        raise CliError("--mid-course needs --data-cut")
    if args.data_cut is not None and args.data_cut <= args.anchor:
        raise CliError("--data-cut must be after --anchor")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} exists and is not a directory")
    spec = CohortSpec(
        n=args.n or 40,
        disease=_simulated(args.disease),
        seed=args.seed,
        anchor=args.anchor,
        data_cut=args.data_cut,
        mess=args.mess,
        dense=args.dense,
        mid_course=args.mid_course,
        early_death=not args.no_early_death,
    )
    summary = write_cohort(spec, args.out, fmt, jobs=args.jobs)
    print(
        f"wrote {summary.patients} patients ({summary.resources} resources, {summary.observations} Observations, "
        f"{summary.bytes_written / 1e6:.1f} MB) to {args.out} as {fmt} in {summary.seconds:.1f} s"
    )
    return 0
