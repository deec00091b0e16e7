"""PrefetchSource: what the CDS client sent, what it did not, and the fallback that fills the gaps."""

from __future__ import annotations

from typing import Any

import pytest

from cds_cyto.sources import (
    FhirUnavailable,
    PatientSource,
    PrefetchSource,
    PrefetchUnavailable,
    QuerySource,
    render_template,
)
from tests.support.fhir import bare_observation, operation_outcome, resource_ids, search_bundle

TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "labs": "Observation?patient={{context.patientId}}&code=http://loinc.org|751-8",
}
PATIENT = {"resourceType": "Patient", "id": "p1"}
CONTEXT = {"patientId": "p1", "userId": "Practitioner/dr1"}


class QueryFallback:
    """A fallback that runs queries (as FhirPatientSource does), recording them."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]], fail: Exception | None = None) -> None:
        self.answers = answers
        self.fail = fail
        self.queries: list[str] = []

    async def patient_resources(self, patient_id: str) -> list[dict[str, Any]]:
        raise AssertionError("a query fallback is asked per key")

    async def query(self, relative_url: str) -> list[dict[str, Any]]:
        self.queries.append(relative_url)
        if self.fail is not None:
            raise self.fail
        return self.answers[relative_url.split("?", maxsplit=1)[0].split("/", maxsplit=1)[0]]


class WholePatientFallback:
    """A fallback that can only fetch everything (as BundleFileSource)."""

    def __init__(self) -> None:
        self.calls = 0

    async def patient_resources(self, patient_id: str) -> list[dict[str, Any]]:
        self.calls += 1
        return [PATIENT, bare_observation("o9")]


async def test_everything_prefetched_needs_no_fallback() -> None:
    prefetch = {"patient": PATIENT, "labs": search_bundle(bare_observation("o1"), bare_observation("o2"))}
    result = await PrefetchSource(prefetch, TEMPLATES, context=CONTEXT).resolve("p1")
    assert resource_ids(result.resources) == ["p1", "o1", "o2"]
    assert result.supplied == ("patient", "labs")
    assert result.fetched == ()
    assert result.unusable == {}
    assert result.complete


@pytest.mark.parametrize(
    ("labs", "reason"),
    [
        (None, "null"),
        (operation_outcome("lab system offline"), "OperationOutcome: lab system offline"),
        (
            search_bundle(bare_observation("o1"), next_url="https://ehr.test/fhir?page=2"),
            "only the first page was sent",
        ),
        (bare_observation("o1"), "expected a Bundle, got Observation"),
        (search_bundle(bare_observation("o1", patient="p2")), "holds another patient's data"),
    ],
)
async def test_unusable_values_are_fetched_per_key(labs: object, reason: str) -> None:
    fallback = QueryFallback({"Observation": [bare_observation("o7")]})
    source = PrefetchSource({"patient": PATIENT, "labs": labs}, TEMPLATES, fallback, context=CONTEXT)
    result = await source.resolve("p1")
    assert result.unusable == {"labs": reason}
    assert result.fetched == ("labs",)
    assert fallback.queries == ["Observation?patient=p1&code=http://loinc.org|751-8"]
    assert resource_ids(result.resources) == ["p1", "o7"]


async def test_absent_key_without_fallback_raises_with_reasons() -> None:
    source = PrefetchSource({"patient": PATIENT}, TEMPLATES, context=CONTEXT)
    with pytest.raises(PrefetchUnavailable) as caught:
        await source.patient_resources("p1")
    assert caught.value.reasons == {"labs": "not prefetched and no FHIR server to fetch it from"}
    assert caught.value.code == "prefetch-unavailable"


async def test_optional_key_may_stay_missing() -> None:
    source = PrefetchSource({"patient": PATIENT, "labs": None}, TEMPLATES, optional={"labs"})
    result = await source.resolve("p1")
    assert resource_ids(result.resources) == ["p1"]
    assert not result.complete
    assert set(result.unresolved) == {"labs"}


async def test_fallback_failure_is_prefetch_unavailable() -> None:
    fallback = QueryFallback({}, fail=FhirUnavailable("search Observation: connection failed"))
    source = PrefetchSource({"patient": PATIENT}, TEMPLATES, fallback, context=CONTEXT)
    with pytest.raises(PrefetchUnavailable) as caught:
        await source.resolve("p1")
    assert caught.value.reasons == {"labs": "FhirUnavailable: search Observation: connection failed"}


async def test_a_fallback_without_queries_fetches_the_whole_patient_once() -> None:
    fallback = WholePatientFallback()
    assert not isinstance(fallback, QuerySource)
    source = PrefetchSource({}, TEMPLATES, fallback, context=CONTEXT)
    assert isinstance(source, PatientSource)
    result = await source.resolve("p1")
    assert fallback.calls == 1
    assert result.fetched == ("patient", "labs")
    assert result.unusable == {"patient": "absent", "labs": "absent"}
    assert resource_ids(result.resources) == ["p1", "o9"]


async def test_read_template_with_a_wrong_resource() -> None:
    source = PrefetchSource(
        {"patient": search_bundle(PATIENT), "labs": search_bundle()}, TEMPLATES, optional={"patient"}
    )
    result = await source.resolve("p1")
    assert result.unusable == {"patient": "expected Patient, got Bundle"}


def test_render_template() -> None:
    assert render_template("Patient/{{context.patientId}}", {}, "p1") == "Patient/p1"
    assert (
        render_template(
            "MedicationRequest?requester={{userPractitionerId}}&encounter={{ context.encounterId }}",
            {"userId": "Practitioner/dr1", "encounterId": "e5"},
            "p1",
        )
        == "MedicationRequest?requester=dr1&encounter=e5"
    )
    assert render_template("Encounter/{{context.encounterId}}", {}, "p1") is None  # no value
    assert render_template("Patient/{{context.patientId}}", {}, "p1&_include=*") is None  # not an id
    assert render_template("Observation?date=gt{{today()}}", {}, "p1") is None  # unsupported token


ADMIN = {
    "resourceType": "MedicationAdministration",
    "id": "ma1",
    "subject": {"reference": "Patient/p1"},
    "medicationReference": {"reference": "Medication/m1"},
}
MED_TEMPLATES = {**TEMPLATES, "meds": "MedicationAdministration?patient={{context.patientId}}&_include=x"}


async def test_a_medication_the_client_did_not_include_is_read_in_one_search() -> None:
    fallback = QueryFallback({"Medication": [{"resourceType": "Medication", "id": "m1"}]})
    prefetch = {"patient": PATIENT, "labs": search_bundle(bare_observation("o1")), "meds": search_bundle(ADMIN)}
    result = await PrefetchSource(prefetch, MED_TEMPLATES, fallback, context=CONTEXT).resolve("p1")
    assert resource_ids(result.resources) == ["p1", "o1", "ma1", "m1"]
    assert fallback.queries == ["Medication?_id=m1&_count=1000"]


async def test_a_medication_that_cannot_be_read_is_left_to_the_core() -> None:
    fallback = QueryFallback({}, fail=FhirUnavailable("down"))
    prefetch = {"patient": PATIENT, "labs": search_bundle(bare_observation("o1")), "meds": search_bundle(ADMIN)}
    result = await PrefetchSource(prefetch, MED_TEMPLATES, fallback, context=CONTEXT).resolve("p1")
    assert resource_ids(result.resources) == ["p1", "o1", "ma1"]  # the core: medication-unresolved


async def test_every_copy_the_client_sent_is_handed_over() -> None:
    prefetch = {"patient": PATIENT, "labs": search_bundle(bare_observation("o1"), bare_observation("o1"))}
    result = await PrefetchSource(prefetch, TEMPLATES, context=CONTEXT).resolve("p1")
    assert resource_ids(result.resources) == ["p1", "o1", "o1"]  # the core settles copies


WITH_MEDS = {"patient": PATIENT, "labs": search_bundle(bare_observation("o1")), "meds": search_bundle(ADMIN)}
MED_INCLUDED = search_bundle(ADMIN, {"resourceType": "Medication", "id": "m1"})


@pytest.mark.parametrize(
    ("prefetch", "templates", "fallback", "at_hand"),
    [
        ({"patient": PATIENT, "labs": search_bundle(bare_observation("o1"))}, TEMPLATES, None, True),
        ({"patient": PATIENT, "labs": search_bundle(bare_observation("o1"))}, TEMPLATES, QueryFallback({}), True),
        ({"patient": PATIENT}, TEMPLATES, QueryFallback({"Observation": [bare_observation("o7")]}), False),
        ({"patient": PATIENT, "labs": None}, TEMPLATES, WholePatientFallback(), False),
        (WITH_MEDS, MED_TEMPLATES, None, True),  # nobody to ask: the drug stays unresolved, as in `resolve`
        (WITH_MEDS, MED_TEMPLATES, WholePatientFallback(), True),  # a cohort is no FHIR server to search
        (WITH_MEDS, MED_TEMPLATES, QueryFallback({"Medication": [{"resourceType": "Medication", "id": "m1"}]}), False),
        ({**WITH_MEDS, "meds": MED_INCLUDED}, MED_TEMPLATES, QueryFallback({}), True),
    ],
)
async def test_at_hand_is_resolve_when_nothing_would_be_read(
    prefetch: dict[str, Any], templates: dict[str, str], fallback: PatientSource | None, at_hand: bool
) -> None:
    """The hook's one-hop path (`PatientViewService.answer_at_hand`) takes `at_hand`; whenever it gives a result,
    `resolve` gives the same one having read nothing, and whenever `resolve` would read it gives None."""
    source = PrefetchSource(prefetch, templates, fallback, context=CONTEXT)
    got = source.at_hand("p1")
    assert (got is not None) is at_hand
    if got is not None:
        assert got == await source.resolve("p1")
        assert not isinstance(fallback, QueryFallback) or fallback.queries == []
        assert not isinstance(fallback, WholePatientFallback) or fallback.calls == 0
