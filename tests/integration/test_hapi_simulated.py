"""Issue 4, acceptance 2: generated bundles load into HAPI as transactions, and a patient read back from the server
evaluates exactly as from its file — so its data problems are the injected ones that tests/simulate checks."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import orjson
import pytest

from cds_cyto.analytics import rows_from_files
from cds_cyto.cli.analyze import rows_from_fhir
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import default_profile
from cds_cyto.sources import FhirClient, FhirPatientSource

pytestmark = pytest.mark.hapi

COHORT = Path(__file__).resolve().parents[2] / "fixtures" / "cohort"
AS_OF = date(2026, 11, 20)  # the cohort's data cut
# A completed ALL patient with injected unit errors, a completed NHL patient, and one mid-course.
PATIENTS = ("syn-all-0010", "syn-nhl-0013", "syn-all-0038")


def warnings(assessment_json: dict[str, object]) -> list[tuple[str, str]]:
    problems = assessment_json["data_problems"]
    assert isinstance(problems, list)
    return sorted((p["resource"], p["code"]) for p in problems if p["severity"] == "warning")


async def test_generated_bundles_load_as_transactions_and_evaluate_as_from_file(hapi_url: str) -> None:
    profile = default_profile()
    async with FhirClient(hapi_url) as client:
        for pid in PATIENTS:
            bundle = orjson.loads((COHORT / f"{pid}.json").read_bytes())
            assert bundle["type"] == "transaction"
            answer = await client.transaction(bundle)
            assert answer["type"] == "transaction-response"
            assert all(e["response"]["status"][:3] in ("200", "201") for e in answer["entry"])

            from_server = await FhirPatientSource(client, use_batch=True).patient_resources(pid)
            server = evaluate(extract_record(from_server, profile), AS_OF, profile).to_json()
            file = evaluate(extract_record(bundle, profile), AS_OF, profile).to_json()
            assert warnings(server) == warnings(file)
            for key in ("lineages", "icaht", "t_icaht", "pht_day28", "risk", "recommendations"):
                assert server[key] == file[key], (pid, key)


def _comparable(row: dict[str, object]) -> str:
    # NaN is "not known" in a row; it never equals itself, so compare the rows as JSON text with NaN written out.
    return json.dumps(row, sort_keys=True, default=str)


async def test_analytics_reads_the_server_as_it_reads_the_files(hapi_url: str) -> None:
    """`cds-cyto analyze --fhir`: every Patient on the server is read; the rows of the cohort patients equal the
    rows from their files."""
    async with FhirClient(hapi_url) as client:
        for pid in PATIENTS:
            await client.transaction(orjson.loads((COHORT / f"{pid}.json").read_bytes()))
    from_server = {
        row["patient_id"]: row for row in await asyncio.to_thread(lambda: list(rows_from_fhir(hapi_url, AS_OF, "ALL")))
    }
    from_files = {
        row["patient_id"]: row
        for row in rows_from_files([COHORT / f"{p}.json" for p in PATIENTS], AS_OF, "ALL", jobs=1)
    }
    assert set(PATIENTS) <= set(from_server)
    for pid in PATIENTS:
        assert _comparable(from_server[pid]) == _comparable(from_files[pid]), pid
