"""HAPI's search semantics as FhirClient uses them: patient, token OR lists, date ranges, sort, paging, batch,
transaction and `_lastUpdated`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_cyto.sources import (
    FhirClient,
    FhirError,
    FhirPatientSource,
    date_range,
    token_list,
)
from tests.cds.scenario import count, infusion, patient
from tests.integration.helpers import load_resources, unique_id

pytestmark = pytest.mark.hapi

ANALYTES = ("neutrophils", "hemoglobin", "platelets")
DAYS = range(-3, 7)  # ten days of counts, three analytes a day: 30 Observations
VALUES = {"neutrophils": 1.5, "hemoglobin": 90.0, "platelets": 60.0}


@dataclass(frozen=True)
class Chart:
    pid: str
    observations: list[dict[str, Any]]
    loaded_at: datetime  # the latest meta.lastUpdated HAPI gave the loaded resources


def _observations(pid: str) -> list[dict[str, Any]]:
    return [count(pid, analyte, day, VALUES[analyte]) for day in DAYS for analyte in ANALYTES]


def make_chart(base_url: str) -> Chart:
    pid = unique_id("srch")
    observations = _observations(pid)
    answer = load_resources(base_url, [patient(pid), infusion(pid), *observations])  # one transaction of PUTs
    assert all(e["response"]["status"].startswith("201") for e in answer["entry"])
    stamps = [datetime.fromisoformat(e["response"]["lastModified"]) for e in answer["entry"]]
    return Chart(pid, observations, max(stamps))


@pytest.fixture(scope="module")
def chart(hapi_url: str) -> Chart:
    """Read-only for the tests that share it."""
    return make_chart(hapi_url)


def _ids(resources: Iterable[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in resources}


async def test_patient_by_bare_id_and_by_reference(hapi_url: str, chart: Chart) -> None:
    async with FhirClient(hapi_url) as client:
        bare = await client.search("Observation", {"patient": chart.pid})
        by_reference = await client.search("Observation", {"subject": f"Patient/{chart.pid}"})
        assert _ids(bare) == _ids(by_reference) == _ids(chart.observations)
        assert await client.search("Observation", {"patient": unique_id("nobody")}) == []


async def test_code_or_list(hapi_url: str, chart: Chart) -> None:
    async with FhirClient(hapi_url) as client:
        codes = ["http://loinc.org|751-8", "http://loinc.org|777-3"]
        found = await client.search("Observation", {"patient": chart.pid, "code": token_list(codes)})
        assert len(found) == 2 * len(DAYS)
        assert {f"{c['system']}|{c['code']}" for r in found for c in r["code"]["coding"]} == set(codes)
        other_system = await client.search(
            "Observation", {"patient": chart.pid, "code": "http://snomed.info/sct|751-8"}
        )
        assert other_system == []  # the system is part of the match


async def test_date_range(hapi_url: str, chart: Chart) -> None:
    async with FhirClient(hapi_url) as client:
        # Days 0..2 (2026-03-01..03, 08:00+01:00); the bounds are instants, so the offset matters.
        start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)
        found = await client.search("Observation", {"patient": chart.pid, "date": date_range(start, end)})
        expected = {
            r["id"] for r in chart.observations if start <= datetime.fromisoformat(r["effectiveDateTime"]) < end
        }
        assert len(expected) == 9
        assert _ids(found) == expected


async def test_sort_by_date_descending_across_next_pages(hapi_url: str, chart: Chart) -> None:
    async with FhirClient(hapi_url) as client:
        before = client.stats.requests
        found = await client.search("Observation", {"patient": chart.pid, "_sort": "-date", "_count": 7})
        pages = client.stats.requests - before
        assert pages == 5  # 30 results, 7 a page: the first page and four `next` links
        assert len(found) == len(chart.observations)
        times = [datetime.fromisoformat(r["effectiveDateTime"]) for r in found]
        assert times == sorted(times, reverse=True)
        assert times[0] > times[-1]


async def test_batch_answers_each_entry_on_its_own(hapi_url: str, chart: Chart) -> None:
    async with FhirClient(hapi_url) as client:
        missing = unique_id("missing")
        answer = await client.batch(
            {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [
                    {"request": {"method": "GET", "url": f"Patient/{chart.pid}"}},
                    {"request": {"method": "GET", "url": f"Observation?patient={chart.pid}&_count=10"}},
                    {"request": {"method": "GET", "url": f"Patient/{missing}"}},
                ],
            }
        )
        statuses = [e["response"]["status"].split()[0] for e in answer["entry"]]
        assert statuses == ["200", "200", "404"]
        assert answer["entry"][0]["resource"]["id"] == chart.pid
        first_page = answer["entry"][1]["resource"]
        assert len(first_page["entry"]) == 10
        assert any(link["relation"] == "next" for link in first_page["link"])  # a batch gives the first page only
        everything = await client.follow_pages(first_page, "Observation")
        assert _ids(everything) == _ids(chart.observations)


async def test_transaction_is_all_or_nothing(hapi_url: str, chart: Chart) -> None:
    async with FhirClient(hapi_url) as client:
        good = count(chart.pid, "platelets", 30, 100.0)
        stored = count(chart.pid, "platelets", 31, 100.0)
        await client.transaction(
            {"resourceType": "Bundle", "type": "transaction", "entry": [_put(stored)]}
        )  # version 1 on the server
        stale = {**_put(stored), "request": {**_put(stored)["request"], "ifMatch": 'W/"7"'}}  # a version it is not
        with pytest.raises(FhirError) as caught:
            await client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [_put(good), stale]})
        assert caught.value.status in (409, 412)
        with pytest.raises(FhirError) as not_there:
            await client.read("Observation", good["id"])  # the valid entry was rolled back too
        assert not_there.value.status == 404


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "PUT", "url": f"Observation/{resource['id']}"}}


async def test_last_updated_since(hapi_url: str) -> None:
    chart = await asyncio.to_thread(make_chart, hapi_url)  # its own patient: this test changes it
    async with FhirClient(hapi_url) as client:
        await asyncio.sleep(0.05)  # HAPI stamps with milliseconds: make the changes strictly later
        changed = [dict(chart.observations[0], status="amended"), count(chart.pid, "hemoglobin", 8, 80.0)]
        answer = await client.transaction(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {"resource": r, "request": {"method": "PUT", "url": f"Observation/{r['id']}"}} for r in changed
                ],
            }
        )
        assert [e["response"]["status"].split()[0] for e in answer["entry"]] == ["200", "201"]

        since = chart.loaded_at  # an aware datetime with microseconds = 0; sent as gt2026-…T…+00:00
        for use_batch in (True, False):
            fetched = await FhirPatientSource(client, since=since, use_batch=use_batch).patient_resources(chart.pid)
            # The Patient is always read in full; every search is limited to what changed after `since`.
            assert [r["resourceType"] for r in fetched].count("Patient") == 1
            assert _ids(r for r in fetched if r["resourceType"] != "Patient") == _ids(changed)
        everything = await FhirPatientSource(client, use_batch=True).patient_resources(chart.pid)
        assert len(everything) == 1 + 1 + len(chart.observations) + 1
        later = await FhirPatientSource(client, since=since + timedelta(hours=1)).patient_resources(chart.pid)
        assert [r["resourceType"] for r in later] == ["Patient"]
