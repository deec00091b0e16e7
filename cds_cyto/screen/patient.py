"""One patient's Assessment for the screen: read through the runtime's patient source and assessed by the one core
`evaluate`, exactly as the hook does (cds/patient_view.py), so the page and the card cannot disagree.

Where the data come from: the demo source with `serve --demo`; otherwise the FHIR server — the launch's `iss` with
the user's token (SMART), or CDS_CYTO_FHIR_BASE_URL when auth is disabled (development against a local server).
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_cyto.cds.runtime import Runtime
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.sources import (
    Auth,
    FhirPatientSource,
    NoAuth,
    PatientNotFound,
    PatientSource,
    Readable,
    SourceError,
    default_observation_codes,
    is_fhir_id,
)
from cds_cyto.sources._offload import offload

__all__ = ["ScreenError", "load_assessment", "patient_id_ok", "patient_source"]


@dataclass
class ScreenError(Exception):
    """A page that cannot be shown: its status and a sentence for the page (never data or a token)."""

    status: int
    message: str


def patient_source(runtime: Runtime, fhir_base: str | None = None, auth: Auth | None = None) -> PatientSource:
    """`fhir_base` (a SMART launch's server) when given; else the source the hook itself falls back on: the demo
    cohort with `--demo`, else the site's FHIR server."""
    handler = next(iter(runtime.handlers.values()), None)
    if fhir_base is None and handler is not None and handler.demo_source is not None:
        return handler.demo_source
    base = fhir_base or (str(runtime.settings.fhir_base_url) if runtime.settings.fhir_base_url else None)
    if base is None:
        raise ScreenError(503, "no patient source: this service has no FHIR server configured (CDS_CYTO_FHIR_BASE_URL)")
    client = runtime.pool.client(base, auth or NoAuth())
    return FhirPatientSource(client, default_observation_codes(runtime.profile))


def patient_id_ok(patient_id: object) -> bool:
    """A FHIR id that is also safe as one URL path segment: "." and ".." are FHIR ids, but in `Patient/..` a server
    or a client library would climb out of `Patient/` (path traversal)."""
    return is_fhir_id(patient_id) and isinstance(patient_id, str) and set(patient_id) != {"."}


async def load_assessment(runtime: Runtime, patient_id: str, source: PatientSource) -> Assessment:
    if not patient_id_ok(patient_id):
        raise ScreenError(400, "a patient id is 1–64 letters, digits, '-' or '.'")
    try:
        resources = await source.patient_resources(patient_id)
    except PatientNotFound:
        raise ScreenError(404, "no such patient") from None
    except SourceError as exc:
        raise ScreenError(502, f"the patient's data could not be read ({exc.code})") from None
    return await offload(_assess, runtime, list(resources), patient_id)


def _assess(runtime: Runtime, resources: list[Readable], patient_id: str) -> Assessment:
    record = extract_record(resources, runtime.profile, patient_id=patient_id)
    if any(p.code == "other-patient" for p in record.problems):
        raise ScreenError(400, "the data read belong to another patient: nothing is shown")
    handler = next(iter(runtime.handlers.values()), None)
    if handler is None:
        raise ScreenError(503, "no patient-view service is configured")
    return evaluate(record, handler.today(), runtime.profile)
