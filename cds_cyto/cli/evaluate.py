"""`cds-cyto evaluate`: assess a patient from a FHIR Bundle file, a directory of them, or a FHIR server."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from cds_cyto.cli import CliError
from cds_cyto.cli.common import add_disease_argument, add_site_argument, load_site_profile, parse_day
from cds_cyto.cli.table import assessment_table
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record, extract_records, read_resources
from cds_cyto.core.extract.lean import JsonLineError, NotFhirError
from cds_cyto.core.profile import Profile

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="assess one patient (or a directory of patient Bundles)",
        description="Assess patients from FHIR Bundle or NDJSON files, a directory of them, or a FHIR server: grades, "
        "episodes, ICAHT, CRS, CAR-HEMATOTOX and the recommendations, as the service's cards give them.",
    )
    p.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="a FHIR Bundle (or NDJSON) file, or a directory of them: one assessment per patient they hold",
    )
    p.add_argument(
        "--as-of",
        type=parse_day,
        help="assess as of this date (YYYY-MM-DD); default: latest result",
    )
    p.add_argument(
        "--format",
        choices=("table", "json", "ndjson"),
        default="table",
        help="output format (default table); ndjson: one Assessment per line, written as each is made",
    )
    add_disease_argument(
        p,
        ("ALL", "NHL", "MM"),
        "the disease of a patient whose Conditions do not state one (a recorded diagnosis is never overridden)",
    )
    p.add_argument("--fhir", metavar="URL", help="read the patient from this FHIR server instead of a file")
    p.add_argument("--patient", metavar="ID", help="the patient id on the FHIR server (with --fhir)")
    add_site_argument(p)
    p.set_defaults(func=run)


def bundle_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(f for f in path.glob("*.json") if f.name != "truth.json")
    if path.is_file():
        return [path]
    raise CliError(f"{path}: no such file or directory")


def read_file(path: Path) -> list[Any]:
    """The file's resources, read by the core's one reader (`extract.read_resources`)."""
    try:
        return read_resources(path.read_bytes(), ndjson=path.suffix == ".ndjson")
    except OSError as exc:
        raise CliError(f"{path}: cannot read ({exc.strerror})") from exc
    except JsonLineError as exc:
        raise CliError(f"{path}:{exc.line}: not valid JSON") from exc
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{path}: not valid JSON ({exc})") from exc
    except NotFhirError as exc:
        raise CliError(f"{path}: expected a FHIR Bundle or resource") from exc


def assess_file(path: Path, as_of: date | None, profile: Profile, disease: str | None = None) -> list[Assessment]:
    """One Assessment per patient the file holds (never one of several patients merged)."""
    return [evaluate(record, as_of, profile, disease) for record in extract_records(read_file(path), profile)]


def _from_fhir(args: argparse.Namespace, profile: Profile) -> list[Assessment]:
    if not args.patient:
        raise CliError("--fhir needs --patient ID")
    from cds_cyto.cli.fhir_read import read_patient_resources

    resources = read_patient_resources(args.fhir, args.patient, profile)
    record = extract_record(resources, profile, patient_id=args.patient)
    return [evaluate(record, args.as_of, profile, args.disease)]


def run(args: argparse.Namespace) -> int:
    profile = load_site_profile(args.site, args.site_model)
    # The profile lives as long as the process: out of the collector's walks, which the many short-lived objects
    # of each patient would otherwise repeat over it (issue 18: 55% of the CPU of a 1,000-patient directory).
    gc.collect()
    gc.freeze()
    files: list[Path] = []
    skipped: list[Path] = []  # a directory's files that could not be read
    if args.fhir:
        assessments: Iterable[Assessment] = _from_fhir(args, profile)
        many = False
    else:
        if args.path is None:
            raise CliError("give a Bundle file or directory, or --fhir URL --patient ID")
        files = bundle_files(args.path)
        many = args.path.is_dir()
        if many:  # each Assessment is written as it is made and then dropped: memory does not grow with N
            assessments = _each_readable(files, args, profile, skipped)
        else:
            assessments = [a for f in files for a in assess_file(f, args.as_of, profile, args.disease)]
            many = len(assessments) != 1
    out = sys.stdout.buffer
    for chunk in _rendered(assessments, args.format, many):
        out.write(chunk)
    out.flush()
    if skipped:
        print(f"cds-cyto: {len(skipped)} of {len(files)} file(s) could not be read (named above)", file=sys.stderr)
        return 1
    return 0


def _each_readable(
    files: list[Path], args: argparse.Namespace, profile: Profile, skipped: list[Path]
) -> Iterator[Assessment]:
    """A directory's Assessments file by file; a file that cannot be read is named on stderr and skipped (the
    others are still assessed, and the output stays one valid document)."""
    for f in files:
        try:
            found = assess_file(f, args.as_of, profile, args.disease)
        except CliError as exc:
            print(f"cds-cyto: {exc}; skipped", file=sys.stderr)
            skipped.append(f)
            continue
        yield from found


def _rendered(assessments: Iterable[Assessment], fmt: str, many: bool) -> Iterator[bytes]:
    """The output piece by piece, byte for byte what rendering the whole list at once gives."""
    if fmt == "ndjson":
        for a in assessments:
            yield orjson.dumps(a.to_json()) + b"\n"
    elif fmt == "json" and not many:
        for a in assessments:
            yield orjson.dumps(a.to_json(), option=orjson.OPT_INDENT_2) + b"\n"
    elif fmt == "json":
        # orjson's indented list: "[", each item indented two more spaces after "\n" (first) or ",\n", "\n]";
        # a JSON string holds no raw newline, so indenting line by line is exact.
        first = True
        for a in assessments:
            item = orjson.dumps(a.to_json(), option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")
            yield (b"[\n  " if first else b",\n  ") + item
            first = False
        yield b"[]\n" if first else b"\n]\n"
    else:
        first = True
        for a in assessments:
            yield ("" if first else "\n\n").encode() + assessment_table(a).encode()
            first = False
        yield b"\n"
