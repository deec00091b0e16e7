"""Small pieces the rules share: fresh results, unidentified drugs, code text for evidence."""

from __future__ import annotations

from datetime import date

from cds_cyto.core.assessment.recommendation import Evidence
from cds_cyto.core.extract.record import LabResult, PatientRecord, UnresolvedMedication
from cds_cyto.core.grading.interval import shown

__all__ = [
    "age_text",
    "code_text",
    "day_text",
    "fresh",
    "given_on",
    "result_evidence",
    "unidentified_evidence",
    "unidentified_since",
    "value_text",
]

# Units as people read them; never a UCUM code in a card's text (markdown would eat its "*").
_UNIT_TEXT = {"10*9/L": "×10⁹/L"}


def value_text(r: LabResult) -> str:
    """ "<0.5 ×10⁹/L": a censored value with its comparator, never the bare bound; "(derived)" for a computed ANC."""
    flags = " (derived)" if r.derived else ""
    return f"{shown(r, _UNIT_TEXT.get(r.unit, r.unit))}{flags}"


def result_evidence(label: str, r: LabResult) -> Evidence:
    return Evidence(label, value_text(r), r.time.isoformat(), r.source_id)


def day_text(day: int | None) -> str:
    if day is None:
        return "day unknown"
    return f"day +{day}" if day > 0 else f"day {day}"  # day 0 is the infusion day


def age_text(r: LabResult, as_of: date) -> str:
    days = (as_of - r.local_date).days
    return "today" if days == 0 else ("1 day ago" if days == 1 else f"{days} days ago")


# Short names of well-known code systems, for evidence a clinician reads.
_SYSTEMS = {
    "http://www.whocc.no/atc": "ATC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://snomed.info/sct": "SNOMED CT",
    "http://loinc.org": "LOINC",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
}


def code_text(code: str, names: dict[str, str]) -> str:
    """ "filgrastim (ATC L03AA02)" for "http://www.whocc.no/atc|L03AA02"; the system's URL when it has no short name."""
    system, _, value = code.rpartition("|")
    written = f"{_SYSTEMS.get(system, system)} {value}".strip()
    name = names.get(code)
    return f"{name} ({written})" if name else written


def fresh(r: LabResult | None, as_of: date, max_age: int) -> LabResult | None:
    """`r` if it is at most `max_age` days old on `as_of` (thresholds.toml [freshness]): advice rests on today's
    patient, not on an old count."""
    return r if r is not None and 0 <= (as_of - r.local_date).days <= max_age else None


def unidentified_since(record: PatientRecord, start: date, as_of: date) -> list[UnresolvedMedication]:
    """Medication uses from `start` to `as_of` whose drug could not be identified (one of unknown date counts: it
    may lie in the window). While one does, no advice may say a drug was not given."""
    return [u for u in record.unresolved_medications if u.when is None or start <= u.when <= as_of]


def given_on(u: UnresolvedMedication) -> str:
    return f"on {u.when.isoformat()}" if u.when is not None else "(date unknown)"


def unidentified_evidence(unknown: list[UnresolvedMedication]) -> list[Evidence]:
    return [
        Evidence("Drug not identified", "its Medication was not in the data", _iso(u.when), u.source_id)
        for u in unknown
    ]


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
