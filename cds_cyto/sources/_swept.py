"""A swept patient at the hook: the sweep's snapshot plus what changed since its check, verified (issue 18 item 2).

One batch asks the server, with the caller's own token: the Patient, each of the sweep's searches limited to
`_lastUpdated=ge<check − skew>`, the referenced Medications changed since, and each search's `_summary=count`.
The changes are merged into the snapshot by version (newest wins); then every search's count must equal what the
merged snapshot holds of that type. A deletion, a resource that left the search (a code changed), another
server's snapshot or any error gives None: the caller fetches everything as usual. Data older than the snapshot's
own check are never served: everything changed after it (less the skew) is in the batch.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ._client import FhirClient
from ._errors import SourceError
from ._fhir_json import Resource, entry_status, is_fhir_id
from ._fhir_source import FhirPatientSource, read_medications
from ._query import encode_query

__all__ = ["CLOCK_SKEW", "SNAPSHOT_TYPES", "count_url", "swept_resources"]

log = logging.getLogger("cds_cyto.sources")

# The server's clock and ours may differ; a change stamped this much before our check is still asked for.
CLOCK_SKEW = timedelta(seconds=30)

# The types the sweep's searches return as matches (Medication comes by _include and is checked by id).
SNAPSHOT_TYPES = ("Observation", "Procedure", "Condition", "MedicationAdministration", "MedicationStatement")


def _with(url: str, extra: Mapping[str, str], drop: tuple[str, ...] = ()) -> str:
    path, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0] not in drop]
    return f"{path}?{'&'.join([*kept, encode_query(extra)])}"


def count_url(search_url: str) -> str:
    """The search's number of matches, without its resources or includes."""
    return _with(search_url, {"_summary": "count"}, drop=("_count", "_include", "_sort"))


async def swept_resources(
    source: FhirPatientSource,
    patient_id: str,
    snapshot: Mapping[str, dict[str, Any]],
    checked_at: datetime,
) -> list[dict[str, Any]] | None:
    """The patient's complete data from `snapshot` (as of `checked_at`) and the server's changes since, or None
    when they cannot be verified (then the caller fetches in full)."""
    from cds_cyto.sweep.snapshot import merge  # the sweep's one merge rule; imported late (sweep imports sources)

    if checked_at.tzinfo is None or not is_fhir_id(patient_id):
        return None
    client = source.client
    since = "ge" + (checked_at - CLOCK_SKEW).replace(microsecond=0).isoformat()
    searches = source.queries(patient_id)[1:]  # the sweep's own searches, minus the Patient read
    urls = [f"Patient/{patient_id}"] + [_with(u, {"_lastUpdated": since}) for u in searches]
    urls += [count_url(u) for u in searches]
    medication_ids = sorted(k.split("/", 1)[1] for k in snapshot if k.startswith("Medication/"))
    if medication_ids:
        urls.append(f"Medication?{encode_query({'_id': ','.join(medication_ids), '_lastUpdated': since})}")
    try:
        if not await client.supports_batch():
            return None  # a dozen separate round trips would cost what the full fetch does
        answers = await _batch(client, urls)
    except SourceError as exc:
        log.info("swept snapshot not used (%s): full fetch", type(exc).__name__)
        return None
    if answers is None:
        return None
    n = len(searches)
    changed = [r for i, a in enumerate(answers) if not 1 + n <= i < 1 + 2 * n for r in a if isinstance(r, dict)]
    merged, _ = merge(snapshot, changed)
    counts = [a for a in answers[1 + n : 1 + 2 * n]]
    held = Counter(key.split("/", 1)[0] for key in merged)
    for rtype, total in zip(SNAPSHOT_TYPES, counts, strict=True):
        if total != held[rtype]:
            log.info("swept snapshot not used (%s count differs): full fetch", rtype)
            return None
    resources = list(merged.values())
    try:
        resources += await read_medications(client.query, resources, source.page_size)
    except SourceError:
        return None
    return resources


async def _batch(client: FhirClient, urls: Sequence[str]) -> list[Any] | None:
    """Per URL its resources (every page) or, for a count, its total; None when any entry failed."""
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": url}} for url in urls],
    }
    response = await client.batch(bundle)
    entries = response.get("entry")
    if not isinstance(entries, list) or len(entries) != len(urls):
        return None
    out: list[Any] = []
    for url, entry in zip(urls, entries, strict=True):
        status = entry_status(entry) if isinstance(entry, Mapping) else None
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if status is None or not 200 <= status < 300 or not isinstance(resource, dict):
            return None
        rtype = url.split("?", 1)[0].split("/", 1)[0]
        if "_summary=count" in url:
            total = resource.get("total")
            if not isinstance(total, int) or isinstance(total, bool):
                return None
            out.append(total)
        elif "?" not in url:
            if resource.get("resourceType") != rtype:
                return None
            out.append([resource])
        else:
            found: list[Resource] = await client.follow_pages(resource, rtype)
            out.append(found)
    return out
