"""`cds-cyto analyze`: cohort analytics over bundles or a FHIR server → report.html, tables (CSV/JSON), site model."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cds_cyto.cli import CliError
from cds_cyto.cli.common import add_disease_argument, load_site_profile, parse_day
from cds_cyto.core.profile import Profile
from cds_cyto.core.profile.site_model import SiteModel

__all__ = ["register", "rows_from_fhir"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "analyze",
        help="cohort report: incidence, cumulative incidence, models, site model",
        description="Reproduce the seed papers' analyses on a cohort (Bundle files or a FHIR server): incidence, "
        "cumulative incidence, correlations, regression models, and the site model; writes a report with its tables.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundles", type=Path, metavar="DIR", help="a directory of patient Bundles")
    src.add_argument("--fhir", metavar="URL", help="a FHIR server (every Patient on it)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the report and tables go")
    add_disease_argument(
        p,
        ("ALL", "NHL"),
        "the cohort's population — B-ALL (seed 000) or B-NHL (seed 001) — and the disease of a patient whose "
        "Conditions do not state one",
        "ALL",
    )
    p.add_argument("--as-of", type=parse_day, help="assess every patient as of this date (default: latest result)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    p.add_argument(
        "--site",
        type=Path,
        default=os.environ.get("CDS_CYTO_SITE_FILE") or None,
        help="site file (TOML): codes, thresholds and the site model's landmark rule; default $CDS_CYTO_SITE_FILE",
    )
    p.add_argument(
        "--validate",
        type=Path,
        metavar="MODEL",
        help="a saved site_model.json (from another cohort or an earlier run) to validate, unchanged, on this cohort "
        "(report section 9)",
    )
    p.add_argument(
        "--shrink",
        action="store_true",
        help="shrink the site model's coefficients by the bootstrap's uniform shrinkage factor (intercept refitted)",
    )
    p.set_defaults(func=run)


def rows_from_fhir(
    base_url: str, as_of: date | None, disease: str, profile: Profile | None = None
) -> Iterator[dict[str, Any]]:
    from cds_cyto.analytics.rows import row_from_resources
    from cds_cyto.core.profile import default_profile
    from cds_cyto.sources import FhirClient, FhirPatientSource, SourceError, default_observation_codes

    profile = profile or default_profile()

    async def ids() -> list[str]:
        async with FhirClient(base_url) as client:
            return await FhirPatientSource(client, default_observation_codes(profile)).patient_ids()

    async def fetch(pid: str) -> list[dict[str, Any]]:
        async with FhirClient(base_url) as client:
            return await FhirPatientSource(client, default_observation_codes(profile)).patient_resources(pid)

    try:
        patient_ids = asyncio.run(ids())
        for pid in tqdm(patient_ids, desc="patients", unit="pt"):
            yield row_from_resources(asyncio.run(fetch(pid)), as_of, disease, profile, patient_id=pid)
    except SourceError as exc:
        raise CliError(f"FHIR server: {exc}") from None
    except ValueError as exc:
        raise CliError(f"--fhir: {exc}") from None


def _manifest(args: argparse.Namespace, population: str) -> dict[str, Any]:
    """The run's manifest; its command is the canonical form of this one (absolute paths), which re-runs it."""
    from cds_cyto.analytics import bundle_files
    from cds_cyto.analytics.manifest import build_manifest, files_sha256

    command = ["cds-cyto", "analyze"]
    if args.bundles is not None:
        command += ["--bundles", str(args.bundles.resolve())]
    else:
        command += ["--fhir", args.fhir]
    command += ["--out", str(args.out.resolve()), "--disease", args.disease.upper()]
    if args.as_of is not None:
        command += ["--as-of", args.as_of.isoformat()]
    if args.site is not None:
        command += ["--site", str(Path(args.site).resolve())]
    if args.validate is not None:
        command += ["--validate", str(args.validate.resolve())]
    if args.shrink:
        command += ["--shrink"]
    files = bundle_files(args.bundles) if args.bundles is not None else None
    return build_manifest(
        command,
        source="bundles" if files is not None else "fhir",
        input_sha256=None if files is None else files_sha256(files),
        input_files=None if files is None else len(files),
        data_cut=args.as_of,
        disease=population,
        seeds={},
        site_file=None if args.site is None else Path(args.site),
    )


def _model_to_validate(path: Path, population: str, profile: Profile) -> SiteModel:
    """The saved model, refused when this run cannot read its inputs as it was trained (another population, another
    landmark rule)."""
    from cds_cyto.core.profile.site_model import SiteModelError, load_model

    try:
        model = load_model(path)
    except SiteModelError as exc:
        raise CliError(f"--validate: {exc}") from None
    if model.population != population:
        raise CliError(
            f"--validate: the model was fitted on {model.population_name} patients; this run's --disease is "
            f"{population.upper()}"
        )
    rule = profile.thresholds["site_model"]
    trained = {"landmark_day": model.landmark_day, "no_crs_reading_from_day": model.no_crs_reading_from_day}
    for key, value in trained.items():
        if int(rule[key]) != value:
            raise CliError(
                f"--validate: the model reads its inputs with {key} = {value}, this run with {int(rule[key])}: "
                f"give a site file with [thresholds.site_model] {key} = {value}"
            )
    return model


def run(args: argparse.Namespace) -> int:
    from cds_cyto.analytics import analyze_rows, bundle_files, rows_from_files
    from cds_cyto.core.profile.site_model import POPULATIONS

    disease = args.disease
    population = next(key for key, (normalised, _) in POPULATIONS.items() if normalised == disease)
    profile = load_site_profile(args.site)
    validate = None if args.validate is None else _model_to_validate(args.validate, population, profile)
    unreadable: list[str] = []  # files named on stderr and in the report, the others analysed (as `evaluate DIR`)
    if args.bundles is not None:
        if not args.bundles.is_dir():
            raise CliError(f"{args.bundles}: not a directory")
        files = bundle_files(args.bundles)
        if not files:
            raise CliError(f"{args.bundles}: no patient Bundles (*.json)")
        rows = list(
            tqdm(
                rows_from_files(files, args.as_of, disease, args.jobs, args.site, unreadable),
                total=len(files),
                unit="pt",
            )
        )
        for why in unreadable:
            print(f"cds-cyto: {why}; skipped", file=sys.stderr)
    else:
        rows = list(rows_from_fhir(args.fhir, args.as_of, disease, profile))
    if len(rows) < 5:
        raise CliError(f"{len(rows)} patients: too few to analyse")
    manifest = _manifest(args, population)
    if validate is not None:
        manifest["validated_model_sha256"] = validate.sha256
    result = analyze_rows(
        rows,
        args.out,
        population,
        profile=profile,
        manifest=manifest,
        validate=validate,
        shrink=args.shrink,
        unreadable=len(unreadable),
    )
    print(f"{len(rows)} patients → {result.html_path}")
    if unreadable:
        print(f"cds-cyto: {len(unreadable)} of {len(files)} file(s) could not be read (named above)", file=sys.stderr)
        return 1
    return 0
