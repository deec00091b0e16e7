"""What the core and the doors need from a source of patient data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ._errors import SourceError
from ._fhir_json import Readable

__all__ = ["ManyQuerySource", "PatientCatalog", "PatientSource", "QuerySource"]


@runtime_checkable
class PatientSource(Protocol):
    async def patient_resources(self, patient_id: str) -> Sequence[Readable]:
        """All of the patient's raw FHIR resources, every copy as it came (the core settles versions; lab results
        may come decoded lean, see `cds_cyto.core.extract.lean`).

        Complete or an exception (a `SourceError`): never a partial list. `PatientNotFound` when there is no such
        patient.
        """
        ...


@runtime_checkable
class PatientCatalog(PatientSource, Protocol):
    """A source that can also list its patients (for sweeps and the demo)."""

    async def patient_ids(self) -> list[str]: ...


@runtime_checkable
class QuerySource(Protocol):
    """A source that can run one FHIR query relative to its base ("Patient/1", "Observation?patient=1&...")."""

    async def query(self, relative_url: str) -> list[dict[str, Any]]: ...


@runtime_checkable
class ManyQuerySource(Protocol):
    """A source that runs several queries together (one batch round trip where the server takes batch): each
    query's resources, or the `SourceError` that query failed with, in order."""

    async def query_many(self, relative_urls: Sequence[str]) -> Sequence[Sequence[Readable] | SourceError]: ...
