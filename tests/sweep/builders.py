"""Small FHIR R4 patients for sweep tests: a Patient, a CAR-T infusion Procedure and a few blood counts.

Each test uses its own id prefix and its own calendar window (years far from any other test's data), so tests that
share the session's HAPI server never see each other's patients in a cohort search.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from cds_cyto.sources import FhirClient
from tests.support.fhir import CANONICAL_UNIT, LOINC_OF, infusion_of

Json = dict[str, Any]

_LINEAGE = {"anc": "neutrophils", "hb": "hemoglobin", "plt": "platelets"}
LOINC = {short: LOINC_OF[lineage] for short, lineage in _LINEAGE.items()}
UNIT = {short: CANONICAL_UNIT[lineage] for short, lineage in _LINEAGE.items()}


def patient(pid: str) -> Json:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1960-05-01"}


def infusion(pid: str, day0: date) -> Json:
    return infusion_of(pid, day0)


def count(pid: str, analyte: str, day0: date, day: int, value: float, n: int | None = None) -> Json:
    when = day0 + timedelta(days=day)
    q = {"value": value, "unit": UNIT[analyte], "system": "http://unitsofmeasure.org", "code": UNIT[analyte]}
    return {
        "resourceType": "Observation",
        "id": f"{pid}-{analyte}-{day}" + (f"-{n}" if n is not None else ""),
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": LOINC[analyte]}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"{when.isoformat()}T08:00:00+00:00",
        "valueQuantity": q,
    }


def course(
    pid: str, day0: date, days: Sequence[int], anc: float = 2.0, plt: float = 150.0, hb: float = 120.0
) -> list[Json]:
    """A patient with the same counts on each of `days` (day 0 = infusion)."""
    out = [patient(pid), infusion(pid, day0)]
    for day in days:
        out += [count(pid, "anc", day0, day, anc), count(pid, "plt", day0, day, plt), count(pid, "hb", day0, day, hb)]
    return out


def transaction(resources: Iterable[Json]) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
        ],
    }


async def load(base_url: str, resources: Iterable[Json]) -> None:
    async with FhirClient(base_url) as client:
        await client.transaction(transaction(resources))
