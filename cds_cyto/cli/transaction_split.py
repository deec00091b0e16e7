"""Splitting a large transaction Bundle into smaller ones that store the same resources (`fixtures load`).

A Synthea patient is one transaction of ~10,000 POSTs that refer to each other by `urn:uuid:` fullUrls; a sandbox
takes minutes over it, past any sensible timeout. Split as it is, a chunk would refer to urn:uuids another chunk
holds. So each `POST Type` entry whose fullUrl is `urn:uuid:X` becomes `PUT Type/X` (the server accepts client ids)
and every reference to `urn:uuid:X` becomes `Type/X`; then any split stores what the whole would have. A bundle
where that is not possible (a conditional create that others refer to by urn:uuid, a urn:uuid that no entry has)
is not split: it is sent whole, with more time.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["split_transaction"]

_URN = "urn:uuid:"
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def split_transaction(bundle: dict[str, Any], max_entries: int) -> list[dict[str, Any]]:
    """`bundle` in transactions of at most `max_entries` entries, or `[bundle]` when it is small or cannot be split."""
    entries = bundle.get("entry")
    if not isinstance(entries, list) or len(entries) <= max_entries:
        return [bundle]
    targets = _urn_targets(entries)
    if targets is None:
        return [bundle]
    copied: list[Any] = orjson.loads(orjson.dumps(entries))  # the caller's Bundle stays as it was
    for entry in copied:
        full = entry.get("fullUrl")
        if isinstance(full, str) and full in targets:
            if entry["request"]["method"] == "POST":
                entry["resource"]["id"] = targets[full].partition("/")[2]
                entry["request"] = {"method": "PUT", "url": targets[full]}
            del entry["fullUrl"]  # its urn:uuid now names nothing: every reference to it was rewritten
    if not _rewrite(copied, targets):
        return [bundle]
    return [
        {"resourceType": "Bundle", "type": "transaction", "entry": copied[i : i + max_entries]}
        for i in range(0, len(copied), max_entries)
    ]


def _urn_targets(entries: list[Any]) -> dict[str, str] | None:
    """urn:uuid fullUrl → the `Type/id` it will be stored as; None when an entry cannot be given a fixed address."""
    targets: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            return None
        full, request, resource = entry.get("fullUrl"), entry.get("request"), entry.get("resource")
        if not isinstance(request, dict) or not isinstance(resource, dict):
            return None
        if not (isinstance(full, str) and full.startswith(_URN)):
            continue
        method, url, rtype = request.get("method"), request.get("url"), resource.get("resourceType")
        uuid = full[len(_URN) :]
        if method == "POST" and url == rtype and "ifNoneExist" not in request and _FHIR_ID.fullmatch(uuid):
            targets[full] = f"{rtype}/{uuid}"
        elif method == "PUT" and isinstance(url, str) and "?" not in url and url.count("/") == 1:
            targets[full] = url
        # any other entry (a conditional create) keeps its urn:uuid; a reference to it makes the bundle unsplittable
    return targets


def _rewrite(value: Any, targets: dict[str, str]) -> bool:
    """Replace `reference: urn:uuid:X` by its target in place; False if a urn:uuid reference has none."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and item.startswith(_URN):
                if item not in targets:
                    return False
                value[key] = targets[item]
            elif isinstance(item, dict | list) and not _rewrite(item, targets):
                return False
        return True
    if isinstance(value, list):
        return all(_rewrite(item, targets) for item in value if isinstance(item, dict | list))
    return True
