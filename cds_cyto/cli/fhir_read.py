"""Read one patient's resources from a FHIR server for a CLI command."""

from __future__ import annotations

import asyncio
from typing import Any

from cds_cyto.cli import CliError
from cds_cyto.core.profile import Profile
from cds_cyto.sources import FhirClient, FhirPatientSource, SourceError, default_observation_codes

__all__ = ["read_patient_resources"]


def read_patient_resources(base_url: str, patient_id: str, profile: Profile) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        async with FhirClient(base_url) as client:
            return await FhirPatientSource(client, default_observation_codes(profile)).patient_resources(patient_id)

    try:
        return asyncio.run(fetch())
    except SourceError as exc:
        raise CliError(f"FHIR server {base_url}: {exc}") from None  # the operator's own URL: say which
    except ValueError as exc:  # a malformed base URL
        raise CliError(f"--fhir: {exc}") from None
