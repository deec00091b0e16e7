"""Run the core on test resources: extract and evaluate a Bundle built with `tests.support.fhir`."""

from __future__ import annotations

from collections.abc import Iterable

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import Profile
from tests.support.fhir import Json, bundle, day_date


def run(*resources: Json | Iterable[Json], as_of_day: int | None = None, profile: Profile | None = None) -> Assessment:
    """Extract and evaluate a bundle of the given resources, as of study day `as_of_day` (default: latest result)."""
    record = extract_record(bundle(*resources), profile)
    as_of = None if as_of_day is None else day_date(as_of_day)
    return evaluate(record, as_of, profile)


def problem_codes(a: Assessment) -> list[str]:
    return [p.code for p in a.data_problems]
