"""Patients from FHIR files: Bundles of any type, single resources, NDJSON — a file or a directory tree.

The result looks like what a FHIR server would hand back after loading the same files as transactions: a
resource without an id but with a `urn:uuid:` fullUrl gets that uuid as id, and references to such fullUrls are
rewritten to "Type/id". So the embedded demo and a server loaded with `cds-cyto fixtures load` give one answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ._errors import PatientNotFound, SourceFileError
from ._fhir_json import Resource, is_fhir_id, patient_of, reference_key, resource_key

__all__ = ["BundleFileSource"]

log = logging.getLogger("cds_cyto.sources.files")

_SUFFIXES = (".json", ".ndjson")


@dataclass(slots=True)
class _Index:
    patients: dict[str, dict[str, Resource]] = field(default_factory=dict)  # id → key → resource
    shared: dict[str, Resource] = field(default_factory=dict)  # "Type/id" → resource with no patient


class BundleFileSource:
    """`PatientCatalog` over FHIR files. A resource belongs to the patient its `subject` or `patient` reference
    names; a resource naming no patient (a Medication, say) is added to every patient whose resources refer to it.
    Files are read once, on first use, off the event loop."""

    def __init__(self, *paths: str | os.PathLike[str]) -> None:
        if not paths:
            raise ValueError("BundleFileSource needs at least one file or directory")
        self.paths = tuple(Path(p) for p in paths)
        self._index: _Index | None = None
        self._lock = asyncio.Lock()

    async def patient_resources(self, patient_id: str) -> list[dict[str, Any]]:
        index = await self._loaded()
        own = index.patients.get(patient_id)
        if own is None:
            raise PatientNotFound("no such patient in the FHIR files")
        resources = list(own.values())
        for key in _referenced(resources):
            if key in index.shared and key not in own:
                resources.append(index.shared[key])
        return resources

    async def patient_ids(self) -> list[str]:
        return sorted((await self._loaded()).patients)

    def load(self) -> None:
        """Read every file now (synchronously); later calls reuse the result."""
        if self._index is None:
            self._index = _build_index(list(self._files()))

    async def _loaded(self) -> _Index:
        async with self._lock:
            if self._index is None:
                await asyncio.to_thread(self.load)
            assert self._index is not None
            return self._index

    def _files(self) -> Iterator[Path]:
        for path in self.paths:
            if path.is_dir():
                yield from sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
            elif path.is_file():
                yield path
            else:
                raise SourceFileError(f"{path}: no such file or directory")


def _build_index(files: list[Path]) -> _Index:
    records = [record for path in files for record in _read(path)]
    ids = _uuid_ids(records)
    index = _Index()
    for full_url, raw in records:
        resource = _with_server_ids(raw, full_url, ids)
        key = resource_key(resource)
        patient = patient_of(resource)
        if patient is None:
            if key is not None:
                index.shared.setdefault(key, resource)
            continue
        own = index.patients.setdefault(patient, {})
        own.setdefault(key or f"#{len(own)}", resource)  # first copy of a resource wins
    log.info("read %d files: %d patients, %d resources", len(files), len(index.patients), len(records))
    return index


def _read(path: Path) -> Iterator[tuple[str | None, Resource]]:
    """(fullUrl, resource) for each resource in the file, Bundles flattened."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"{path}: cannot read ({exc.strerror})") from exc
    if path.suffix == ".ndjson":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield from _resources_of(_parse(line, f"{path}:{number}"), None)
        return
    document = _parse(text, str(path))
    if "resourceType" not in document:
        log.info("skipped %s: not a FHIR resource", path.name)  # e.g. a cohort's truth.json
        return
    yield from _resources_of(document, None)


def _parse(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SourceFileError(f"{where}: not valid JSON") from exc
    if not isinstance(value, dict):
        raise SourceFileError(f"{where}: not a JSON object")
    return value


def _resources_of(resource: Resource, full_url: str | None) -> Iterator[tuple[str | None, Resource]]:
    if resource.get("resourceType") != "Bundle":
        yield full_url, resource
        return
    for entry in resource.get("entry") or []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("resource"), dict):
            continue
        search = entry.get("search")
        if isinstance(search, Mapping) and search.get("mode") == "outcome":
            continue
        entry_url = entry.get("fullUrl")
        yield from _resources_of(entry["resource"], entry_url if isinstance(entry_url, str) else None)


def _uuid_ids(records: list[tuple[str | None, Resource]]) -> dict[str, str]:
    """urn:uuid fullUrl → the "Type/id" a server would give the resource."""
    ids: dict[str, str] = {}
    for full_url, resource in records:
        if full_url is None or not full_url.startswith("urn:uuid:"):
            continue
        rid = resource.get("id") or full_url.removeprefix("urn:uuid:")
        if is_fhir_id(rid) and isinstance(resource.get("resourceType"), str):
            ids[full_url] = f"{resource['resourceType']}/{rid}"
    return ids


def _with_server_ids(resource: Resource, full_url: str | None, ids: Mapping[str, str]) -> Resource:
    if not ids:
        return resource
    rewritten: Resource = _rewrite_references(resource, ids)
    if "id" not in rewritten and full_url is not None and full_url in ids:
        rewritten["id"] = ids[full_url].split("/", 1)[1]
    return rewritten


def _rewrite_references(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: ids.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite_references(v, ids)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_references(v, ids) for v in value]
    return value


def _referenced(resources: list[Resource]) -> list[str]:
    """Every "Type/id" the resources refer to (contained "#x" references excluded)."""
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and not ref.startswith("#"):
                key = reference_key(ref)
                if key is not None:
                    found[key] = None
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(resources)
    return list(found)
