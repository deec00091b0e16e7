"""A result naming no patient never counts as the context patient's (issue 15 item 8), in a prefetch or in a
searchset a FHIR server sent: a boundary table over the ways a subject can be missing, malformed or another's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cds_cyto.core.extract import extract_record
from cds_cyto.core.extract.record import PatientRecord
from cds_cyto.core.profile import default_profile
from cds_cyto.sources import FhirPool, PrefetchSource, PrefetchUnavailable
from tests.cds.scenario import count, infusion, patient, prefetch_for
from tests.fuzz.test_reader_properties import TEMPLATES

PID = "pt-1"
PATIENT_URN = "urn:uuid:7f0c1a52-3d51-4c0e-9d7e-0a6f6b1d2c11"
_ABSENT = object()

# (subject element or _ABSENT, the element's name, what happens to the result)
CASES: list[tuple[str, Any, str, str]] = [
    ("missing", _ABSENT, "subject", "left-out"),
    ("null", None, "subject", "left-out"),
    ("no reference", {"display": "Jane Doe"}, "subject", "left-out"),
    ("empty object", {}, "subject", "left-out"),
    ("reference a number", {"reference": 5}, "subject", "left-out"),
    ("reference a list", {"reference": ["Patient/pt-1"]}, "subject", "left-out"),
    ("a Group", {"reference": "Group/ward-3"}, "subject", "left-out"),
    ("contained", {"reference": "#p"}, "subject", "left-out"),
    ("unknown urn:uuid", {"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}, "subject", "left-out"),
    ("the context patient", {"reference": f"Patient/{PID}"}, "subject", "kept"),
    ("absolute, versioned", {"reference": f"https://ehr.example/fhir/Patient/{PID}/_history/3"}, "subject", "kept"),
    ("the patient's urn:uuid", {"reference": PATIENT_URN}, "subject", "kept"),
    ("as `patient`", {"reference": f"Patient/{PID}"}, "patient", "kept"),
    ("another patient", {"reference": "Patient/pt-2"}, "subject", "refused"),
]


def _loose(subject: Any, element: str) -> dict[str, Any]:
    result = count(PID, "neutrophils", 7, 0.2, n=9)
    result["id"] = "loose"
    del result["subject"]
    if subject is not _ABSENT:
        result[element] = subject
    return result


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{"resource": r} for r in resources]
    # the patient is in the Bundle under a urn:uuid fullUrl, as a client that inlines it would send it
    entries.append({"fullUrl": PATIENT_URN, "resource": {"resourceType": "Patient", "id": PID}})
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def _labs(subject: Any, element: str) -> list[dict[str, Any]]:
    return [count(PID, "neutrophils", -3, 2.5), _loose(subject, element)]


def _check(record: PatientRecord, outcome: str) -> None:
    values = [r.value for r in record.series("neutrophils")]
    problems = [(p.code, p.severity) for p in record.problems if p.resource == "Observation/loose"]
    if outcome == "kept":
        assert values == [2.5, 0.2] and problems == []
    elif outcome == "left-out":
        assert values == [2.5] and problems == [("no-subject", "warning")]
    else:
        assert values == [2.5] and any(p.code == "other-patient" for p in record.problems)


@pytest.mark.parametrize(("case", "subject", "element", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_a_prefetched_result_counts_only_when_it_names_the_context_patient(
    case: str, subject: Any, element: str, outcome: str
) -> None:
    prefetch = prefetch_for([patient(PID), infusion(PID)])
    prefetch["observations"] = _searchset(_labs(subject, element))
    source = PrefetchSource(prefetch, TEMPLATES, None, context={"patientId": PID})
    if outcome == "refused":  # another patient's data: the prefetch is not used at all (the hook's 412)
        with pytest.raises(PrefetchUnavailable):
            asyncio.run(source.resolve(PID))
        return
    result = asyncio.run(source.resolve(PID))
    _check(extract_record(result.resources, default_profile(), patient_id=PID), outcome)


@pytest.mark.parametrize(("case", "subject", "element", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_a_fetched_result_counts_only_when_it_names_the_context_patient(
    case: str, subject: Any, element: str, outcome: str
) -> None:
    async def read() -> list[dict[str, Any]]:
        async with FhirPool() as pool:  # the fetch path's reader of a searchset page (one page: no request)
            return await pool.client("http://127.0.0.1:9").follow_pages(_searchset(_labs(subject, element)), "Obs")

    resources = [patient(PID), infusion(PID), *asyncio.run(read())]
    _check(extract_record(resources, default_profile(), patient_id=PID), outcome)
