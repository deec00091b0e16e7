"""Issue 4, acceptance 2: generated bundles load into HAPI as transactions, and a patient read back from the server
evaluates exactly as from its file — so its data problems are the injected ones that tests/simulate checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from cds_cyto.assess import evaluate
from cds_cyto.extract import extract_record
from cds_cyto.profile import default_profile
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
