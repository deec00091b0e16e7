"""The answer pool's stand-in for a FHIR server (`_Relay`) asks the parent what the in-thread call would send: the
missing keys' queries as one question (so the parent sends the one batch, with the service's page size, that
`FhirPatientSource.query_many` sends in-thread), a Medication search as a query of its own."""

from __future__ import annotations

import asyncio
from typing import Any

from cds_cyto.cds.answer_pool import _Relay
from cds_cyto.sources import PrefetchSource, QuerySource
from cds_cyto.sources._protocol import ManyQuerySource
from tests.cds.scenario import gcsf_by_reference

TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "labs": "Observation?patient={{context.patientId}}&code=http://loinc.org|751-8",
    "doses": "MedicationAdministration?patient={{context.patientId}}",
}
CONTEXT = {"patientId": "p1", "userId": "Practitioner/dr1"}


async def _asks(prefetch: dict[str, Any]) -> list[tuple[str, Any]]:
    relay = _Relay()
    source = PrefetchSource(prefetch, TEMPLATES, relay, context=CONTEXT)
    task = asyncio.ensure_future(source.resolve("p1"))
    await relay.asked.wait()
    for _ in range(8):
        await asyncio.sleep(0)
    asks = [ask for ask, _ in relay.asks]
    task.cancel()
    return asks


def test_the_relay_is_a_source_of_many_queries() -> None:
    relay = _Relay()
    assert isinstance(relay, QuerySource) and isinstance(relay, ManyQuerySource)


def test_missing_keys_are_one_question() -> None:
    asks = asyncio.run(_asks({"patient": {"resourceType": "Patient", "id": "p1"}}))
    assert asks == [
        (
            "many",
            (
                "Observation?patient=p1&code=http://loinc.org|751-8",
                "MedicationAdministration?patient=p1",
            ),
        )
    ]


def test_a_medication_not_included_is_one_search() -> None:
    doses = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in gcsf_by_reference("p1", range(1, 3))],
    }
    prefetch = {
        "patient": {"resourceType": "Patient", "id": "p1"},
        "labs": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "doses": doses,
    }
    asks = asyncio.run(_asks(prefetch))
    assert len(asks) == 1 and asks[0][0] == "query" and asks[0][1].startswith("Medication?_id=")
