"""A patient's data from a FHIR server: one batch round trip when the server supports it, else parallel searches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cds_cyto.core.extract import unresolved_medication_ids

from ._client import FhirClient
from ._codes import default_observation_codes
from ._errors import FhirError, FhirProtocolError, PatientNotFound, SourceError
from ._fhir_json import Resource, entry_status, is_fhir_id, outcome_text
from ._gather import gather_bounded
from ._query import encode_query, token_list, with_page_size

__all__ = ["PATIENT_SEARCHES", "FhirPatientSource", "medication_ids_to_read", "read_medications"]

# Everything of one patient the core reads besides the Patient itself and its Observations. Medication
# resources come along through _include because the drug code often lives on the referenced Medication.
PATIENT_SEARCHES: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("Procedure", {}),
    ("Condition", {}),
    ("MedicationAdministration", {"_include": "MedicationAdministration:medication"}),
    ("MedicationStatement", {"_include": "MedicationStatement:medication"}),
)


def medication_ids_to_read(resources: Sequence[Any]) -> list[str]:
    """The referenced Medications missing from `resources` that a search may name (well-formed ids only)."""
    return [mid for mid in unresolved_medication_ids(resources) if is_fhir_id(mid)]


async def read_medications(
    query: Callable[[str], Awaitable[list[Resource]]], resources: Sequence[Any], page_size: int = 1000
) -> list[Resource]:
    """What `FhirPatientSource.medications` reads: one `Medication?_id=` search for the referenced Medications
    missing from `resources` (only well-formed ids go into the URL)."""
    missing = medication_ids_to_read(resources)
    if not missing:
        return []
    found: list[Resource] = []
    for start in range(0, len(missing), 100):  # a URL stays short enough for any server
        chunk = ",".join(missing[start : start + 100])
        found += await query(f"Medication?{encode_query({'_id': chunk, '_count': str(page_size)})}")
    return found


# Answers to a batch POST that mean "not here", not "your data failed": fall back to separate searches.
_BATCH_REFUSED = frozenset({400, 404, 405, 415, 422, 501})


class FhirPatientSource:
    """`PatientSource` over a `FhirClient`.

    `observation_codes`: "system|code" strings the Observation search is limited to (default: every analyte and
    CRS-grade code in the package tables); an empty list fetches all Observations. `since` (aware) limits the
    searches to resources changed after it, for incremental sweeps. `use_batch=None` asks the server's
    CapabilityStatement.
    """

    def __init__(
        self,
        client: FhirClient,
        observation_codes: Sequence[str] | None = None,
        *,
        since: datetime | None = None,
        page_size: int = 2000,  # servers cap it (HAPI: 1000 by default; the test server: 2000), then page
        use_batch: bool | None = None,
        concurrency: int = 4,
    ) -> None:
        if since is not None and since.tzinfo is None:
            raise ValueError("since must carry a timezone")
        self.client = client
        self.observation_codes = (
            list(observation_codes) if observation_codes is not None else default_observation_codes()
        )
        self.since = since
        self.page_size = page_size
        self.use_batch = use_batch
        self.concurrency = concurrency

    def queries(self, patient_id: str) -> list[str]:
        """The relative URLs that make up the patient's data; the first is the Patient read."""
        common: dict[str, str] = {"patient": patient_id, "_count": str(self.page_size)}
        if self.since is not None:
            common["_lastUpdated"] = "gt" + self.since.isoformat()
        observation = dict(common)
        if self.observation_codes:
            observation["code"] = token_list(self.observation_codes)
        urls = [f"Patient/{patient_id}", f"Observation?{encode_query(observation)}"]
        urls += [f"{rtype}?{encode_query({**common, **extra})}" for rtype, extra in PATIENT_SEARCHES]
        return urls

    async def patient_resources(self, patient_id: str) -> list[dict[str, Any]]:
        if not is_fhir_id(patient_id):
            raise PatientNotFound("not a valid FHIR patient id")
        urls = self.queries(patient_id)
        async with self.client.deadline("patient fetch"):
            batch = self.use_batch if self.use_batch is not None else await self.client.supports_batch()
            found = await self._by_batch(urls) if batch else None
            if found is None:
                found = await self._by_searches(urls)
            return found + await self.medications(found)

    async def medications(self, resources: Sequence[Any]) -> list[Resource]:
        """The Medications that medication uses reference but that did not come along (many servers ignore
        `_include`), in one search (`Medication?_id=a,b,c`); none when nothing is missing."""
        return await read_medications(self.client.query, resources, self.page_size)

    async def patient_ids(self) -> list[str]:
        found = await self.client.search("Patient", {"_elements": "id", "_count": str(self.page_size)})
        return [r["id"] for r in found if isinstance(r.get("id"), str)]

    async def query(self, relative_url: str) -> list[dict[str, Any]]:
        return await self.client.query(relative_url)

    async def query_many(self, relative_urls: Sequence[str]) -> list[list[Resource] | SourceError]:
        """Each query's resources, or the `SourceError` it failed with, in order: one batch round trip when the
        server takes batch (more than one query), else the queries in parallel. Every search asks `_count` =
        `page_size`, so a patient's results come in as few pages as the server allows."""
        urls = [with_page_size(u, self.page_size) for u in relative_urls]
        async with self.client.deadline("patient fetch"):
            if len(urls) > 1:
                batch = self.use_batch if self.use_batch is not None else await self.client.supports_batch()
                answers = await self._batch_answers(urls) if batch else None
                if answers is not None:
                    return answers
            return await gather_bounded([_captured(self.client.query(u)) for u in urls], self.concurrency)

    async def _by_batch(self, urls: list[str]) -> list[Resource] | None:
        """The resources, or None when the server refuses batch Bundles (then separate searches are used)."""
        answers = await self._batch_answers(urls)
        if answers is None:
            return None
        resources: list[Resource] = []
        for answer in answers:
            if isinstance(answer, SourceError):
                raise answer
            resources.extend(answer)
        return resources

    async def _batch_answers(self, urls: list[str]) -> list[list[Resource] | SourceError] | None:
        """One batch of GETs: per URL its resources (all pages followed) or its failure; None when the server
        refuses batch Bundles. A failure of the batch itself is raised."""
        request = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": url}} for url in urls],
        }
        try:
            response = await self.client.batch(request)
        except FhirError as exc:
            if self.use_batch is None and exc.status in _BATCH_REFUSED:
                self.client.refuse_batch()
                return None
            raise
        answers: list[list[Resource] | SourceError] = []
        for url, entry in zip(urls, response["entry"], strict=True):
            try:
                answers.append(await self._batch_entry(url, entry))
            except SourceError as exc:
                answers.append(exc)
        return answers

    async def _batch_entry(self, url: str, entry: Mapping[str, Any]) -> list[Resource]:
        path = url.split("?", 1)[0]
        rtype = path.split("/", 1)[0]
        is_read = "?" not in url and "/" in path
        status = entry_status(entry)
        resource = entry.get("resource")
        if status is None or not 200 <= status < 300:
            if is_read and rtype == "Patient" and status in (404, 410):
                raise PatientNotFound("the FHIR server has no such Patient")
            response_element = entry.get("response")  # any JSON: a server's error answer is read, not trusted
            outcome = response_element.get("outcome") if isinstance(response_element, Mapping) else None
            details = outcome or resource
            raise FhirError(status or 0, f"batch entry {rtype}: HTTP {status}", outcome_text(details))
        if not isinstance(resource, dict):
            raise FhirProtocolError(f"batch entry {rtype}: no resource in the response")
        if is_read:
            if resource.get("resourceType") != rtype:
                raise FhirProtocolError(f"batch entry {rtype}: got another resource type")
            return [resource]
        return await self.client.follow_pages(resource, rtype)

    async def _by_searches(self, urls: list[str]) -> list[Resource]:
        results = await gather_bounded(
            [self._read_patient(urls[0])] + [self.client.query(u) for u in urls[1:]], self.concurrency
        )
        return [r for result in results for r in result]

    async def _read_patient(self, url: str) -> list[Resource]:
        try:
            return await self.client.query(url)
        except FhirError as exc:
            if exc.status in (404, 410):
                raise PatientNotFound("the FHIR server has no such Patient") from exc
            raise


async def _captured(call: Awaitable[list[Resource]]) -> list[Resource] | SourceError:
    try:
        return await call
    except SourceError as exc:
        return exc
