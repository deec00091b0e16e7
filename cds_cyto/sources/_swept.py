"""A swept patient at the hook: the sweep's snapshot plus what changed since its check, verified (issue 18 item 2).

The bulk of a patient is its lab results; the rest is a handful of resources. So one batch asks the server, with
the caller's own token: the Patient and the sweep's other searches (Procedure, Condition, medication uses with their
Medications) in full, as always, and for Observations only those changed since the snapshot was read
(`_lastUpdated=ge`) and their count (`_summary=count`). The changed Observations are merged into the snapshot's by
version (newest wins); then the search's count must equal what the merged snapshot holds. A deletion, an
Observation that left the search (its code changed), an error or a missing total gives None: the caller fetches
everything as usual.

"Since the snapshot was read" is measured on the server's own clock, never ours or the sweep's: the newest
`meta.lastUpdated` of the snapshot's Observations is a time the server had reached when they were read, so every
later change is stamped after it, whatever the clocks of the sweep and of this process say. The window is widened
further to the sweep's check less `CLOCK_MARGIN` when that is earlier. Snapshot Observations without any server
stamp are not used.

A snapshot that failed verification fails again on every call until the sweep replaces it, and a server that
cannot count or batch never will: both are remembered per process (`REFUSED`), so such calls pay the full fetch
only, not the verifying batch first.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from ._client import FhirClient
from ._errors import SourceError
from ._fhir_json import Resource, entry_status, is_fhir_id
from ._fhir_source import FhirPatientSource, read_medications
from ._query import encode_query
from ._snapshot import merge

__all__ = ["CLOCK_MARGIN", "REFUSED", "SNAPSHOT_TYPE", "Refusals", "count_url", "newest_stamp", "swept_resources"]

log = logging.getLogger("cds_cyto.sources")

# At least the sweep's `overlap_seconds`: the window never starts later than the sweep's own next delta would.
CLOCK_MARGIN = timedelta(seconds=120)

SNAPSHOT_TYPE = "Observation"  # what the snapshot answers for; `FhirPatientSource.queries`' second search

_Scope = Literal["snapshot", "server"]
_TRANSIENT = frozenset({408, 429})  # with every 5xx: an entry that may succeed next time is not remembered


class _Unverifiable(Exception):
    """The batch cannot verify the snapshot; `scope`: what will keep failing (this snapshot, the server, or None:
    perhaps nothing)."""

    def __init__(self, scope: _Scope | None) -> None:
        super().__init__(scope)
        self.scope = scope


class Refusals:
    """A bounded LRU of snapshots (tenant, patient, snapshot hash) and servers (base URL) not to try again."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[str, ...], None] = OrderedDict()

    def __contains__(self, key: tuple[str, ...]) -> bool:
        if key not in self._keys:
            return False
        self._keys.move_to_end(key)
        return True

    def add(self, key: tuple[str, ...]) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def clear(self) -> None:
        self._keys.clear()


REFUSED = Refusals()  # per process; one event loop touches it, so no lock


def _with(url: str, extra: Mapping[str, str], drop: tuple[str, ...] = ()) -> str:
    path, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0] not in drop]
    return f"{path}?{'&'.join([*kept, encode_query(extra)])}"


def count_url(search_url: str) -> str:
    """The search's number of matches, without its resources or includes."""
    return _with(search_url, {"_summary": "count"}, drop=("_count", "_include", "_sort"))


def newest_stamp(resources: Iterable[Mapping[str, Any]]) -> datetime | None:
    """The latest server `meta.lastUpdated` (with a time zone) among `resources`; None when none has one."""
    newest = None
    for resource in resources:
        meta = resource.get("meta")
        stamp = meta.get("lastUpdated") if isinstance(meta, Mapping) else None
        try:
            when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        except ValueError:
            continue
        if when is not None and when.tzinfo is not None and (newest is None or when > newest):
            newest = when
    return newest


async def swept_resources(
    source: FhirPatientSource,
    patient_id: str,
    snapshot: Mapping[str, dict[str, Any]],
    checked_at: datetime,
    tenant: str = "",
    snapshot_hash: str = "",
) -> list[dict[str, Any]] | None:
    """The patient's complete data from `snapshot`'s Observations (as of `checked_at`), the server's changes to
    them since and everything else read now; None when they cannot be verified (then fetch in full)."""

    client = source.client
    keys: dict[_Scope, tuple[str, ...]] = {
        "snapshot": ("snapshot", tenant, patient_id, snapshot_hash),
        "server": ("server", client.base_url),
    }
    if checked_at.tzinfo is None or not is_fhir_id(patient_id) or any(k in REFUSED for k in keys.values()):
        return None
    prefix = SNAPSHOT_TYPE + "/"
    mine = {k: v for k, v in snapshot.items() if k.startswith(prefix)}
    # Only the Observations' stamps: the Patient may have been read after the Observation search, and later.
    newest = newest_stamp(mine.values())
    if newest is None:
        REFUSED.add(keys["snapshot"])
        return None  # no server time to start the window from
    start = min(newest, checked_at - CLOCK_MARGIN)
    since = "ge" + start.replace(microsecond=0).isoformat()  # whole seconds, rounded down: earlier is safe
    patient, observations, *others = source.queries(patient_id)
    urls = [patient, *others, _with(observations, {"_lastUpdated": since}), count_url(observations)]
    try:
        if not await client.supports_batch():
            raise _Unverifiable("server")  # separate round trips would cost what the full fetch does
        *fresh, changed, total = await _batch(client, urls)
    except SourceError as exc:  # transient, perhaps: tried again next call
        log.info("swept snapshot not used (%s): full fetch", type(exc).__name__)
        return None
    except _Unverifiable as exc:
        log.info("swept snapshot not used (the %s cannot be verified): full fetch", exc.scope or "batch")
        if exc.scope is not None:
            REFUSED.add(keys[exc.scope])
        return None
    merged, _ = merge(mine, changed)
    if total != len(merged):
        log.info("swept snapshot not used (the Observation count differs): full fetch")
        REFUSED.add(keys["snapshot"])
        return None
    resources = [r for rs in fresh for r in rs] + list(merged.values())
    try:
        resources += await read_medications(client.query, resources, source.page_size)
    except SourceError:
        return None
    return resources


async def _batch(client: FhirClient, urls: Sequence[str]) -> list[Any]:
    """Per URL its resources (every page) or, for a count, its total; raises _Unverifiable when an entry failed."""
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": url}} for url in urls],
    }
    response = await client.batch(bundle)
    entries = response.get("entry")
    if not isinstance(entries, list) or len(entries) != len(urls):
        raise _Unverifiable("server")
    out: list[Any] = [None] * len(urls)
    # The count first: a server that cannot count fails so whatever else fails, and is remembered as such.
    order = sorted(range(len(urls)), key=lambda i: "_summary=count" not in urls[i])
    for i in order:
        url, entry = urls[i], entries[i]
        counting = "_summary=count" in url
        status = entry_status(entry) if isinstance(entry, Mapping) else None
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if status is not None and (status >= 500 or status in _TRANSIENT):
            raise _Unverifiable(None)
        if status is None or not 200 <= status < 300 or not isinstance(resource, dict):
            raise _Unverifiable("server" if counting else "snapshot")
        rtype = url.split("?", 1)[0].split("/", 1)[0]
        if counting:
            total = resource.get("total")
            if not isinstance(total, int) or isinstance(total, bool):
                raise _Unverifiable("server")  # it answers, but without a count
            out[i] = total
        elif "?" not in url:
            if resource.get("resourceType") != rtype:
                raise _Unverifiable("snapshot")
            out[i] = [resource]
        else:
            found: list[Resource] = await client.follow_pages(resource, rtype)
            out[i] = found
    return out
