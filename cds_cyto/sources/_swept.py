"""A swept patient at the hook: the sweep's snapshot plus what changed since its check, verified (issue 18 item 2).

The bulk of a patient is its lab results; the rest is a handful of resources. So one batch asks the server, with
the caller's own token: the Patient and the sweep's other searches (Procedure, Condition, medication uses with their
Medications) in full, as always, and for Observations only those changed since the snapshot's check less a
clock-skew margin (`_lastUpdated=ge`) and their count (`_summary=count`). The changed Observations are merged into
the snapshot's by version (newest wins); then the search's count must equal what the merged snapshot holds. A
deletion, an Observation that left the search (its code changed), an error or a missing total gives None: the
caller fetches everything as usual. Data older than the snapshot's own check are never served: every Observation
changed after it (less the skew) is in the batch, and everything else is read now.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ._client import FhirClient
from ._errors import SourceError
from ._fhir_json import Resource, entry_status, is_fhir_id
from ._fhir_source import FhirPatientSource, read_medications
from ._query import encode_query

__all__ = ["CLOCK_SKEW", "SNAPSHOT_TYPE", "count_url", "swept_resources"]

log = logging.getLogger("cds_cyto.sources")

# The server's clock and ours may differ; a change stamped this much before our check is still asked for.
CLOCK_SKEW = timedelta(seconds=30)

SNAPSHOT_TYPE = "Observation"  # what the snapshot answers for; `FhirPatientSource.queries`' second search


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
    """The patient's complete data from `snapshot`'s Observations (as of `checked_at`), the server's changes to
    them since and everything else read now; None when they cannot be verified (then fetch in full)."""
    from cds_cyto.sweep.snapshot import merge  # the sweep's one merge rule; imported late (sweep imports sources)

    if checked_at.tzinfo is None or not is_fhir_id(patient_id):
        return None
    client = source.client
    since = "ge" + (checked_at - CLOCK_SKEW).replace(microsecond=0).isoformat()
    patient, observations, *others = source.queries(patient_id)
    urls = [patient, *others, _with(observations, {"_lastUpdated": since}), count_url(observations)]
    try:
        if not await client.supports_batch():
            return None  # separate round trips would cost what the full fetch does
        answers = await _batch(client, urls)
    except SourceError as exc:
        log.info("swept snapshot not used (%s): full fetch", type(exc).__name__)
        return None
    if answers is None:
        return None
    *fresh, changed, total = answers
    prefix = SNAPSHOT_TYPE + "/"
    merged, _ = merge({k: v for k, v in snapshot.items() if k.startswith(prefix)}, changed)
    if total != len(merged):
        log.info("swept snapshot not used (the Observation count differs): full fetch")
        return None
    resources = [r for rs in fresh for r in rs] + list(merged.values())
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
