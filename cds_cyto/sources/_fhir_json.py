"""Small readers and shapers of raw FHIR JSON for the FHIR protocol: ids, searchsets, OperationOutcomes, transactions.

Versions, duplicates and whose data a resource is are the core's to settle (`cds_cyto.core.extract`): sources hand over
everything they got."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cds_cyto.core.extract.fhir_json import NoPatient, patient_of
from cds_cyto.core.extract.lean import LeanObservation, settle_entries

__all__ = [
    "Readable",
    "Resource",
    "SortedSearchset",
    "as_transaction",
    "bundle_resources",
    "bundle_shape_problem",
    "entry_status",
    "holds_another_patient",
    "is_fhir_id",
    "json_items",
    "next_link",
    "outcome_text",
    "prefetched_searchset",
    "resource_key",
]

Resource = dict[str, Any]
# A resource as the extractor reads it: a dict, or a lab result the hook decoded lean (`cds_cyto.core.extract.lean`), or
# the place of a resource that was nobody's in a file of several patients (`cds_cyto.core.extract.split_by_patient`).
Readable = Resource | LeanObservation | NoPatient

# FHIR R4 `id` datatype. Checked before an id goes into a URL, so a hostile id cannot add query parameters.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def is_fhir_id(value: object) -> bool:
    # dot-only ids match the FHIR rule but not a URL path segment ("Patient/.." is the server's base)
    return isinstance(value, str) and _FHIR_ID.fullmatch(value) is not None and set(value) != {"."}


def resource_key(resource: Mapping[str, Any] | LeanObservation) -> str | None:
    """ "Type/id", or None for a resource without an id."""
    if isinstance(resource, LeanObservation):
        return f"Observation/{resource.id}" if resource.id else None
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(rtype, str) and isinstance(rid, str) and rid:
        return f"{rtype}/{rid}"
    return None


def is_bundle(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("resourceType") == "Bundle"


def bundle_shape_problem(bundle: Mapping[str, Any]) -> str | None:
    """Why a Bundle's `entry` or `link` cannot be read (not a list), or None: such a Bundle is refused whole,
    never read as empty, since its results — or its next page — would be lost without a word."""
    for element in ("entry", "link"):
        value = bundle.get(element)
        if value is not None and not isinstance(value, list):
            return f"Bundle.{element} is not a list"
    return None


def bundle_resources(bundle: Mapping[str, Any]) -> list[Resource]:
    """The entries' resources, without the OperationOutcomes a server adds as search.mode=outcome (fullUrls settled
    as the core's reader settles them, `settle_entries`)."""
    return settle_entries(
        [(entry.get("fullUrl"), resource) for entry, resource in _entries(bundle) if not _is_search_outcome(entry)]
    )


class SortedSearchset(dict[str, Any]):
    """A searchset Bundle whose entries are already sorted into `resources` and `outcomes` (search mode outcome):
    how the hook's lean reading hands over a prefetched Bundle. As a dict it holds `resourceType` and `link`."""

    def __init__(self, link: Any, resources: list[Readable], outcomes: list[Resource]) -> None:
        super().__init__(resourceType="Bundle")
        if link is not None:
            self["link"] = link
        self.resources = resources
        self.outcomes = outcomes


def prefetched_searchset(bundle: Mapping[str, Any]) -> tuple[list[Readable], list[Resource]]:
    """(`bundle_resources`, `search_outcomes`) of a prefetched searchset in one pass; its lab results may come
    decoded lean (one loop per lab result: exact class checks first, they are cheap)."""
    if isinstance(bundle, SortedSearchset):
        return bundle.resources, bundle.outcomes
    entries: list[tuple[Any, Readable]] = []
    outcomes: list[Resource] = []
    for entry in json_items(bundle.get("entry")):
        if entry.__class__ is not dict and not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        search = entry.get("search")
        if search is not None and isinstance(search, dict) and search.get("mode") == "outcome":
            if isinstance(resource, dict):
                outcomes.append(resource)
        elif resource.__class__ is LeanObservation or isinstance(resource, dict):
            entries.append((entry.get("fullUrl"), resource))
    return settle_entries(entries), outcomes  # as the core's reader settles fullUrls


def holds_another_patient(resources: Iterable[Readable], patient_id: str) -> bool:
    """Whether any resource names a patient other than `patient_id` (`patient_of`; one look per distinct lean
    subject reference, since a patient's lab results repeat the same one)."""
    checked: set[str] = set()
    for resource in resources:
        if isinstance(resource, LeanObservation):
            subject = resource.subject
            reference = subject.reference if subject is not None and resource.patient is None else None
            if reference is not None and reference in checked:
                continue
            if patient_of(resource) not in (None, patient_id):
                return True
            if reference is not None:
                checked.add(reference)
        elif patient_of(resource) not in (None, patient_id):
            return True
    return False


def json_items(value: Any) -> list[Any]:
    """A JSON array's items; nothing for any other JSON (a number or an object where FHIR has an array is read by
    no loop: callers that must not read it as empty check `bundle_shape_problem` first)."""
    return value if isinstance(value, list) else []


def _entries(bundle: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Resource]]:
    for entry in json_items(bundle.get("entry")):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield entry, entry["resource"]


def _is_search_outcome(entry: Mapping[str, Any]) -> bool:
    search = entry.get("search")
    return isinstance(search, dict) and search.get("mode") == "outcome"


def search_outcomes(bundle: Mapping[str, Any]) -> list[Resource]:
    """OperationOutcomes attached to a searchset (warnings or, from some servers, errors)."""
    return [resource for entry, resource in _entries(bundle) if _is_search_outcome(entry)]


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in json_items(bundle.get("link")):
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def outcome_text(body: object) -> str | None:
    """What an error body says: an OperationOutcome's diagnostics/details, or an OAuth error description."""
    if not isinstance(body, Mapping):
        return None
    if body.get("resourceType") == "OperationOutcome":
        parts: list[str] = []
        for issue in json_items(body.get("issue")):
            if not isinstance(issue, Mapping):
                continue
            details = issue.get("details")
            text = issue.get("diagnostics") or (details.get("text") if isinstance(details, Mapping) else None)
            if isinstance(text, str) and text and text not in parts:
                parts.append(text)
        return "; ".join(parts) or None
    if isinstance(body.get("error"), str):  # RFC 6749 §5.2, from a token endpoint
        description = body.get("error_description")
        return f"{body['error']}: {description}" if isinstance(description, str) else body["error"]
    return None


def has_error_issue(outcome: Mapping[str, Any]) -> bool:
    return any(
        isinstance(issue, Mapping) and issue.get("severity") in ("error", "fatal")
        for issue in json_items(outcome.get("issue"))
    )


def entry_status(entry: Mapping[str, Any]) -> int | None:
    """The numeric status of a batch/transaction response entry ("404 Not Found" → 404)."""
    response = entry.get("response")
    status = response.get("status") if isinstance(response, Mapping) else None
    if isinstance(status, str):
        head = status.strip().split(" ", 1)[0]
        if head.isdigit():
            return int(head)
    return None


def as_transaction(bundle: Mapping[str, Any]) -> Resource:
    """A transaction Bundle that stores `bundle`'s resources.

    A transaction is returned unchanged and a batch keeps its requests. Any other Bundle (collection, searchset,
    history, ...) becomes PUTs for resources with an id, so loading twice updates instead of duplicating, and
    POSTs for resources without one; fullUrls are kept so urn:uuid references still resolve.
    """
    if bundle.get("type") == "transaction":
        return dict(bundle)
    if bundle.get("type") == "batch":
        return {**bundle, "type": "transaction"}
    entries: list[Resource] = []
    for raw_entry, resource in _entries(bundle):
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            continue
        key = resource_key(resource)
        request = {"method": "PUT", "url": key} if key else {"method": "POST", "url": rtype}
        entry: Resource = {"resource": resource, "request": request}
        if isinstance(raw_entry.get("fullUrl"), str):
            entry["fullUrl"] = raw_entry["fullUrl"]
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
