"""The typed, unit-normalised picture of one patient that the pure core evaluates.

`extract` builds a `PatientRecord` from raw FHIR JSON; `grading`, `risk` and `recommend` read it. Every value here is
already in its analyte's canonical unit (counts ×10⁹/L, Hb g/L); a value that could not be normalised never reaches a
record — it is a `DataProblem` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from cds_cyto.core.profile.load import EventKind

__all__ = [
    "CrsEpisode",
    "CrsGradeReading",
    "DataProblem",
    "Demographics",
    "Diagnosis",
    "EventKind",
    "LabResult",
    "PatientRecord",
    "Sex",
    "TherapyEvent",
    "UnresolvedMedication",
]

Sex = Literal["male", "female"]


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~3 µs per instance on the extraction hot path
class LabResult:
    """One normalised lab value. Treat as immutable."""

    analyte: str
    value: float
    unit: str
    time: datetime  # aware; naive source times are read as UTC
    local_date: date  # the calendar date written in the source's own effectiveDateTime
    source_id: str | None
    original_value: float
    original_unit: str | None
    lln: float | None = None  # referenceRange.low in the canonical unit
    censored: str | None = None  # the Quantity.comparator ("<", "<=", ">", ">=") when the value is a bound
    derived: bool = False  # ANC computed from WBC × neutrophils %
    note: str | None = None  # a conversion worth stating (e.g. D-dimer DDU → FEU ×2)


@dataclass(frozen=True, slots=True)
class TherapyEvent:
    kind: EventKind
    start: date  # the calendar date as written
    end: date | None
    source_id: str | None
    code: str  # "system|code" that matched
    start_time: datetime | None = None  # the aware instant, when the source gives a time (None: a date only)


@dataclass(frozen=True, slots=True)
class UnresolvedMedication:
    """A medication use whose drug could not be identified (its `medicationReference` named a Medication that was
    not in the data and could not be read): it may have been any drug, G-CSF included."""

    when: date | None  # the administration's own date, when it could be read
    source_id: str | None


@dataclass(frozen=True, slots=True)
class CrsEpisode:
    """CRS from a D89.83x Condition: onset, abatement and the grade its code states (None when unspecified)."""

    grade: int | None
    onset: date | None
    abatement: date | None
    source_id: str | None
    # clinicalStatus resolved / inactive / remission: the CRS is over even when no abatement date was written
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class CrsGradeReading:
    """A daily ASTCT CRS grade charted as an Observation (site-configured code)."""

    day_date: date
    grade: int
    source_id: str | None


@dataclass(frozen=True, slots=True)
class DataProblem:
    """A resource, or part of one, that was not used — and why. `code` is stable for machines."""

    resource: str
    code: str
    reason: str
    severity: Literal["warning", "info"] = "warning"
    when: date | None = None  # the result's own date (as written), when it could be read
    analyte: str | None = None  # the lab analyte the resource was read as, when it was one


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The patient's disease from the problem list (codes.toml [disease]): the family the rules apply ("ALL", "NHL",
    "MM"), the group(s) its Conditions name ("DLBCL"), and the first Condition that says so."""

    disease: str
    groups: tuple[str, ...]
    code: str  # "system|code" that matched
    source_id: str | None


@dataclass(frozen=True, slots=True)
class Demographics:
    sex: Sex | None = None
    birth_date: date | None = None
    deceased: bool | None = None  # Patient.deceased[x] (core/extract/deceased.py); None: not stated
    death_date: date | None = None


@dataclass(slots=True)
class PatientRecord:
    patient_id: str | None
    demographics: Demographics = field(default_factory=Demographics)
    # analyte → results sorted by time (ties by source id), duplicates removed
    labs: dict[str, list[LabResult]] = field(default_factory=dict)
    events: list[TherapyEvent] = field(default_factory=list)
    crs_episodes: list[CrsEpisode] = field(default_factory=list)
    crs_grades: list[CrsGradeReading] = field(default_factory=list)
    problems: list[DataProblem] = field(default_factory=list)
    diagnosis: Diagnosis | None = None  # None: no (or conflicting) disease Condition
    unresolved_medications: list[UnresolvedMedication] = field(default_factory=list)

    def series(self, analyte: str) -> list[LabResult]:
        return self.labs.get(analyte, [])

    def events_of(self, *kinds: EventKind) -> list[TherapyEvent]:
        return [e for e in self.events if e.kind in kinds]

    @property
    def infusion_date(self) -> date | None:
        """Day 0: the first CAR-T infusion."""
        starts = [e.start for e in self.events if e.kind == "car_t_infusion"]
        return min(starts) if starts else None

    def lymphodepletion_doses(self, within_days: int) -> list[TherapyEvent]:
        """The fludarabine/cyclophosphamide doses of the lymphodepletion: those dated in the `within_days` days
        before the infusion (day −within_days … day −1; clinical-reference §9: earlier doses are bridging or prior
        therapy). With no infusion recorded yet (a patient assessed during lymphodepletion), the doses in the
        `within_days` days ending on the latest dose (project reading: the infusion follows the last dose)."""
        doses = self.events_of("lymphodepletion")
        if not doses:
            return []
        day0 = self.infusion_date
        if day0 is not None:
            first, last = day0 - timedelta(days=within_days), day0 - timedelta(days=1)
        else:
            last = max(e.start for e in doses)
            first = last - timedelta(days=within_days - 1)
        return [e for e in doses if first <= e.start <= last]

    def lymphodepletion_start(self, within_days: int) -> date | None:
        """The date of the first lymphodepletion dose (see `lymphodepletion_doses`)."""
        starts = [e.start for e in self.lymphodepletion_doses(within_days)]
        return min(starts) if starts else None

    def lymphodepletion_first_dose_time(self, within_days: int) -> datetime | None:
        """The instant of the first lymphodepletion dose; None when a dose on that day has a date only."""
        start = self.lymphodepletion_start(within_days)
        times = [e.start_time for e in self.lymphodepletion_doses(within_days) if e.start == start]
        if not times or any(t is None for t in times):
            return None
        return min(t for t in times if t is not None)
