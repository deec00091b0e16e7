"""Patients from FHIR files: Bundles of any type, single resources, NDJSON — a file or a directory tree.

Files are read by the core's one reader (`cds_cyto.core.extract.read_resources`: lab results lean, a Bundle's fullUrls
and urn:uuid references settled as a server loading the Bundle would) and shared out by the core's one rule
(`split_by_patient`, file by file, so a subject-less result counts only within its own one-patient file). Nothing
is de-duplicated or rewritten here: each patient gets every copy the files hold, and the core settles versions.
So the embedded demo, `cds-cyto evaluate` and a server loaded with `cds-cyto fixtures load` give one answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cds_cyto.core.extract import read_resources, split_by_patient, unresolved_medication_ids
from cds_cyto.core.extract.lean import JsonLineError, NotFhirError

from ._errors import PatientNotFound, SourceFileError
from ._fhir_json import Readable

__all__ = ["BundleFileSource", "read_fhir_file"]

log = logging.getLogger("cds_cyto.sources.files")

_SUFFIXES = (".json", ".ndjson")


@dataclass(slots=True)
class _Index:
    patients: dict[str, list[Readable]] = field(default_factory=dict)  # id → its resources, every copy
    medications: dict[str, list[Readable]] = field(default_factory=dict)  # Medication id → every copy


class BundleFileSource:
    """`PatientCatalog` over FHIR files. A resource belongs to the patient its `subject` or `patient` reference
    names; a Medication is added to every patient whose medication uses refer to it, whichever file holds it.
    Files are read once, on first use, off the event loop."""

    def __init__(self, *paths: str | os.PathLike[str]) -> None:
        if not paths:
            raise ValueError("BundleFileSource needs at least one file or directory")
        self.paths = tuple(Path(p) for p in paths)
        self._index: _Index | None = None
        self._lock = asyncio.Lock()

    async def patient_resources(self, patient_id: str) -> list[Readable]:
        index = await self._loaded()
        own = index.patients.get(patient_id)
        if own is None:
            raise PatientNotFound("no such patient in the FHIR files")
        missing = unresolved_medication_ids(own)
        return own + [m for mid in missing for m in index.medications.get(mid, ())]

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
    index = _Index()
    count = 0
    for path in files:
        resources = read_fhir_file(path)
        if resources is None:
            continue
        count += len(resources)
        for res in resources:
            if isinstance(res, dict) and res.get("resourceType") == "Medication" and isinstance(res.get("id"), str):
                index.medications.setdefault(res["id"], []).append(res)
        for patient, share in split_by_patient(resources).items():
            if patient is not None:
                index.patients.setdefault(patient, []).extend(share)
    log.info("read %d files: %d patients, %d resources", len(files), len(index.patients), count)
    return index


def read_fhir_file(path: Path) -> list[Any] | None:
    """The file's resources (the core's reader), or None for JSON that is no FHIR (e.g. a cohort's truth.json)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        return read_resources(data, ndjson=path.suffix == ".ndjson")
    except JsonLineError as exc:
        raise SourceFileError(f"{path}:{exc.line}: not valid JSON") from exc
    except orjson.JSONDecodeError as exc:
        raise SourceFileError(f"{path}: not valid JSON") from exc
    except NotFhirError as exc:
        if exc.line is not None:
            raise SourceFileError(f"{path}:{exc.line}: not a FHIR resource") from exc
        log.info("skipped %s: not a FHIR resource", path.name)
        return None
