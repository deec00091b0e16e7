"""`FhirPatientSource.query_many` and the hook's prefetch fallback over it, against a real server process
(tests/sources/recording_fhir.py): one batch, each search with the source's `_count`; a failing entry fails its key
only, a missing Patient is no such patient (issue 18 item 1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cds_cyto.sources import FhirError, FhirPatientSource, FhirPool, PatientNotFound, PrefetchSource
from cds_cyto.sources._query import with_page_size

TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&_sort=-date&_count=1000",
    "statements": "MedicationStatement?patient={{context.patientId}}",
}


def asked(recorder: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = httpx.get(recorder + "/_requests", trust_env=False).json()
    return answer


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("Patient/p1", "Patient/p1"),  # a read is never paged
        ("Procedure?patient=p1", "Procedure?patient=p1&_count=50"),
        ("Observation?patient=p1&_count=1000", "Observation?patient=p1&_count=50"),
        ("Observation?_count=1&patient=p1&_count=2", "Observation?patient=p1&_count=50"),
        ("Observation?patient=p1&_count_x=3", "Observation?patient=p1&_count_x=3&_count=50"),
        ("Observation", "Observation?_count=50"),
        ("Observation?", "Observation?_count=50"),
    ],
)
def test_with_page_size(url: str, expected: str) -> None:
    assert with_page_size(url, 50) == expected


@pytest.mark.parametrize("behaviour", ["batch", "plain"])
async def test_a_failing_entry_fails_only_its_key(recorder: str, behaviour: str) -> None:
    start = len(asked(recorder))
    async with FhirPool() as pool:
        source = FhirPatientSource(pool.client(f"{recorder}/{behaviour}/fhir"), page_size=321)
        prefetch = PrefetchSource(None, TEMPLATES, source, context={"patientId": "p9"}, optional={"statements"})
        result = await prefetch.resolve("p9")
    assert sorted(result.fetched) == ["observations", "patient"]
    assert "FhirError" in result.unresolved["statements"]
    sent = asked(recorder)[start:]
    posts = [r for r in sent if r["method"] == "POST"]
    if behaviour == "batch":
        assert len(posts) == 1 and len(sent) == 2  # /metadata, then the one batch
        assert posts[0]["batch"][1] == "Observation?patient=p9&_sort=-date&_count=321"
    else:
        assert not posts and len(sent) == 1 + len(TEMPLATES)


@pytest.mark.parametrize("behaviour", ["batch", "plain"])
async def test_a_missing_patient_is_no_such_patient(recorder: str, behaviour: str) -> None:
    async with FhirPool() as pool:
        source = FhirPatientSource(pool.client(f"{recorder}/{behaviour}/fhir"))
        prefetch = PrefetchSource(None, TEMPLATES, source, context={"patientId": "missing"}, optional={"statements"})
        with pytest.raises(PatientNotFound):
            await prefetch.resolve("missing")


async def test_query_many_gives_each_failure_in_its_place(recorder: str) -> None:
    async with FhirPool() as pool:
        source = FhirPatientSource(pool.client(f"{recorder}/batch/fhir"))
        answers = await source.query_many(["Patient/p1", "MedicationStatement?patient=p1", "Condition?patient=p1"])
    assert [type(a).__name__ for a in answers] == ["list", "FhirError", "list"]
    failed = answers[1]
    assert isinstance(failed, FhirError) and failed.status == 400
