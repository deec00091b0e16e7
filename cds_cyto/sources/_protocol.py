"""What the core and the doors need from a source of patient data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ._fhir_json import Readable

__all__ = ["PatientCatalog", "PatientSource", "QuerySource"]


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
