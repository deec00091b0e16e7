"""`cds-cyto evaluate`: assess a patient from a FHIR Bundle file, a directory of them, or a FHIR server."""

from __future__ import annotations

import argparse
import sys
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
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
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
    if args.fhir:
        assessments = _from_fhir(args, profile)
        many = False
    else:
        if args.path is None:
            raise CliError("give a Bundle file or directory, or --fhir URL --patient ID")
        files = bundle_files(args.path)
        assessments = [a for f in files for a in assess_file(f, args.as_of, profile, args.disease)]
        many = args.path.is_dir() or len(assessments) != 1
    if args.format == "json":
        payload: Any = [a.to_json() for a in assessments] if many else assessments[0].to_json()
        sys.stdout.buffer.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print("\n\n".join(assessment_table(a) for a in assessments))
    return 0
