"""Therapy events (§9), CRS Conditions (§6), the disease (§9) and demographics, from Procedures, medication
resources, Conditions and the Patient."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from cds_cyto.core.extract.deceased import read_deceased
from cds_cyto.core.extract.fhir_json import codings, parse_instant, period_start, reference_key
from cds_cyto.core.extract.problems import ProblemLog
from cds_cyto.core.extract.record import (
    CrsEpisode,
    Demographics,
    Diagnosis,
    EventKind,
    TherapyEvent,
    UnresolvedMedication,
)
from cds_cyto.core.profile import Profile

__all__ = ["MEDICATION_TYPES", "EventReader"]

# A dose or procedure with these statuses did not happen (or was recorded in error).
_NOT_DONE = frozenset({"entered-in-error", "not-done", "not-taken", "preparation", "intended"})
_CONDITION_EXCLUDED = frozenset({"entered-in-error", "refuted"})
_CONDITION_OVER = frozenset({"resolved", "inactive", "remission"})  # FHIR R4 condition-clinical
MEDICATION_TYPES = frozenset({"MedicationAdministration", "MedicationStatement"})


class EventReader:
    def __init__(self, profile: Profile, problems: ProblemLog) -> None:
        self._codes = profile.event_codes
        self._crs = profile.crs_condition_grades
        self._disease = profile.disease
        self._problems = problems
        self.medications: dict[str, list[str]] = {}  # "Medication/id" → its codings
        self.events: list[TherapyEvent] = []
        self.unresolved: list[UnresolvedMedication] = []
        self.crs: list[CrsEpisode] = []
        self.diagnoses: list[tuple[str, str, str, str]] = []  # (group, family, code, Condition label)
        self.demographics: Demographics | None = None
        self.patient_id: str | None = None

    def read_medication(self, med: Mapping[str, Any]) -> None:
        mid = med.get("id")
        if isinstance(mid, str):
            self.medications[f"Medication/{mid}"] = list(codings(med.get("code")))

    def read_patient(self, patient: Mapping[str, Any]) -> None:
        pid = patient.get("id")
        if isinstance(pid, str) and self.patient_id is None:
            self.patient_id = pid
        gender = patient.get("gender")
        birth = patient.get("birthDate")
        born: date | None = None
        if isinstance(birth, str) and len(birth) == 10:
            try:
                born = date.fromisoformat(birth)
            except ValueError:
                born = None
        died, death = read_deceased(patient)
        self.demographics = Demographics(
            sex=gender if gender in ("male", "female") else None, birth_date=born, deceased=died, death_date=death
        )

    def read_procedure(self, proc: Mapping[str, Any], label: str) -> None:
        self._event(proc, label, "Procedure", codings(proc.get("code")), "performed")

    def read_medication_use(self, res: Mapping[str, Any], label: str, rtype: str) -> None:
        """The drug is the use's own code, or the Medication its `medicationReference` names: contained ("#id"),
        or in the data by reference (relative, absolute or versioned; a Bundle's fullUrls are settled by the
        reader). A reference that names no Medication in the data leaves the drug unknown: a data problem, and
        the record lists the use so that no advice says a drug was not given when it may have been."""
        codes = list(codings(res.get("medicationCodeableConcept")))
        codes += codings(res.get("medication"))  # R5 CodeableReference
        ref = res.get("medicationReference")
        reference = ref.get("reference") if isinstance(ref, Mapping) else None
        if isinstance(reference, str) and not codes:
            drug = self._referenced_drug(res, reference)
            if drug is None:
                self._unresolved(res, label, rtype, reference)
                return
            codes = drug
        self._event(res, label, rtype, codes, "effective")

    def _referenced_drug(self, res: Mapping[str, Any], reference: str) -> list[str] | None:
        if reference.startswith("#"):
            contained_list = res.get("contained")
            for contained in contained_list if isinstance(contained_list, list) else ():
                if (
                    isinstance(contained, Mapping)
                    and contained.get("resourceType") == "Medication"
                    and contained.get("id") == reference[1:]
                ):
                    return list(codings(contained.get("code")))
            return None
        key = reference_key(reference)
        return self.medications.get(key) if key is not None and key.startswith("Medication/") else None

    def _unresolved(self, res: Mapping[str, Any], label: str, rtype: str, reference: str) -> None:
        status = res.get("status")
        if status.__class__ is str and status in _NOT_DONE:
            return  # not given, whatever the drug
        start = parse_instant(period_start(res, "effective"))
        when = start[1] if start else None
        self._problems.warn(
            label,
            "medication-unresolved",
            f"{rtype}: the drug could not be identified (medicationReference {reference!r} names no Medication in "
            "the data)",
            when,
        )
        self.unresolved.append(UnresolvedMedication(when, label))

    def _event(self, res: Mapping[str, Any], label: str, rtype: str, codes: Any, time_name: str) -> None:
        kinds: list[tuple[EventKind, str]] = []
        for code in codes:
            hit = self._codes.get(code)
            if hit is not None and rtype in hit[1] and hit[0] not in {k for k, _ in kinds}:
                kinds.append((hit[0], code))
        if not kinds:
            return
        status = res.get("status")
        if status is not None and status.__class__ is not str:  # a list or object: whether it happened is unknown
            self._problems.warn(label, "unreadable", f"{rtype}: status is not a code; the event is not used")
            return
        if status in _NOT_DONE:
            self._problems.info(label, "status-excluded", f"{rtype} with status {status} is not used")
            return
        raw_start = period_start(res, time_name)
        start = parse_instant(raw_start)
        if start is None:
            self._problems.warn(label, "no-time", f"{rtype}: no usable date; the event is not used")
            return
        period = res.get(f"{time_name}Period")
        end = parse_instant(period.get("end")) if isinstance(period, Mapping) else None
        for kind, code in kinds:
            self.events.append(
                TherapyEvent(kind, start[1], end[1] if end else None, label, code, _time_of(raw_start, start))
            )

    def read_condition(self, cond: Mapping[str, Any], label: str) -> None:
        codes = list(codings(cond.get("code")))
        if not self._read_crs(cond, label, codes):
            self._read_diagnosis(cond, label, codes)

    def _read_crs(self, cond: Mapping[str, Any], label: str, codes: list[str]) -> bool:
        """True when the Condition is a CRS code (used or, when refuted, noted)."""
        grade: int | None = None
        matched = False
        for code in codes:
            if code in self._crs:
                matched = True
                grade = self._crs[code]
                break
        if not matched:
            return False
        if _excluded(cond):
            self._problems.info(label, "status-excluded", "CRS Condition refuted or entered in error")
            return True
        onset = parse_instant(period_start(cond, "onset"))
        abatement_raw = cond.get("abatementDateTime")
        period = cond.get("abatementPeriod")
        if abatement_raw is None and isinstance(period, Mapping):
            abatement_raw = period.get("end") or period.get("start")
        abatement = parse_instant(abatement_raw)
        if onset is None:
            self._problems.warn(label, "no-time", "CRS Condition without an onset date; timing unknown")
        self.crs.append(
            CrsEpisode(grade, onset[1] if onset else None, abatement[1] if abatement else None, label, _resolved(cond))
        )
        return True

    def _read_diagnosis(self, cond: Mapping[str, Any], label: str, codes: list[str]) -> None:
        """A disease Condition of codes.toml [disease] (clinical-reference §9)."""
        for code in codes:
            group = self._disease.group_of(code)
            if group is None:
                continue
            if _excluded(cond):
                self._problems.info(label, "status-excluded", f"{group.label} Condition refuted or entered in error")
                return
            self.diagnoses.append((group.name, group.family, code, label))
            return

    def diagnosis(self) -> Diagnosis | None:
        """The patient's disease from the Conditions read; several families are a data problem and no disease."""
        if not self.diagnoses:
            return None
        families = sorted({family for _, family, _, _ in self.diagnoses})
        if len(families) > 1:
            named = "; ".join(f"{label} ({name})" for name, _, _, label in self.diagnoses)
            self._problems.warn(
                "Patient",
                "disease-conflict",
                f"Conditions name different diseases ({', '.join(families)}): {named}; the disease is left unknown",
            )
            return None
        groups = tuple(dict.fromkeys(name for name, _, _, _ in self.diagnoses))
        _, family, code, label = self.diagnoses[0]
        return Diagnosis(family, groups, code, label)


def _resolved(cond: Mapping[str, Any]) -> bool:
    """The Condition's clinicalStatus says it is over (resolved, inactive, remission), whether or not it is dated."""
    return any(c.rpartition("|")[2] in _CONDITION_OVER for c in codings(cond.get("clinicalStatus")))


def _excluded(cond: Mapping[str, Any]) -> bool:
    return any(c.rpartition("|")[2] in _CONDITION_EXCLUDED for c in codings(cond.get("verificationStatus")))


def _time_of(text: Any, parsed: tuple[datetime, date]) -> datetime | None:
    """The instant, when the source wrote a time ("2024-03-01" alone has none: parse_instant gives it midnight)."""
    return parsed[0] if isinstance(text, str) and len(text) > 10 else None
