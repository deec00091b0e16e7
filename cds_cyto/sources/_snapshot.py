"""A patient's resource snapshot: every resource a sweep has seen, keyed "Type/id", the newest version kept by the
core's one rule (`cds_cyto.core.extract.version_key`).

Incremental fetches bring only what changed since the last sweep; merging them here rebuilds the patient's
complete data. A deleted resource is never reported by `_lastUpdated` searches, so only a full fetch (which
replaces the snapshot) drops it. Here, beside the sources, because the sweep and the hook (`_swept`) merge by this
one rule; `cds_cyto.sweep.snapshot` is its name for the sweep.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from cds_cyto.core.extract import version_key

__all__ = ["Snapshot", "merge", "rebuild", "snapshot_hash"]

Snapshot = dict[str, dict[str, Any]]


def _key(resource: Mapping[str, Any]) -> str | None:
    rtype = resource.get("resourceType")
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rtype, str) and isinstance(rid, str) and rid else None


def _stamp(resource: Mapping[str, Any]) -> tuple[int, str]:
    """(versionId, lastUpdated) as written, to identify a version in the hash (not to choose one)."""
    meta = resource.get("meta")
    if not isinstance(meta, Mapping):
        return (-1, "")
    version = meta.get("versionId")
    updated = meta.get("lastUpdated")
    return (
        # ASCII digits only: "²" is a digit to str.isdigit, and int() would raise on it (a poisoned patient)
        int(version) if isinstance(version, str) and version.isascii() and version.isdigit() else -1,
        updated if isinstance(updated, str) else "",
    )


def merge(snapshot: Mapping[str, dict[str, Any]], fetched: Iterable[dict[str, Any]]) -> tuple[Snapshot, bool]:
    """The snapshot with `fetched` merged in, and whether anything changed. An older copy never replaces a newer."""
    out: Snapshot = dict(snapshot)
    changed = False
    for resource in fetched:
        key = _key(resource)
        if key is None:
            continue  # without an id it cannot be matched across sweeps; servers always assign one
        known = out.get(key)
        if known is None or (known != resource and version_key(resource) >= version_key(known)):
            out[key] = resource
            changed = True
    return out, changed


def rebuild(fetched: Iterable[dict[str, Any]]) -> Snapshot:
    """A snapshot of exactly what a full fetch returned (deletions on the server disappear)."""
    out, _ = merge({}, fetched)
    return out


def snapshot_hash(snapshot: Mapping[str, Mapping[str, Any]]) -> str:
    """Identifies the snapshot's content by each resource's key and version (content when it has no version)."""
    digest = hashlib.sha256()
    for key in sorted(snapshot):
        resource = snapshot[key]
        version, updated = _stamp(resource)
        if version < 0 and not updated:  # a server that sends no meta: hash the content
            content = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
            digest.update(f"{key}#".encode() + hashlib.sha256(content).digest())
        else:
            digest.update(f"{key}@{version}@{updated}\n".encode())
    return digest.hexdigest()
