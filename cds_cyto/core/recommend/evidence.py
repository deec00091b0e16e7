"""Small pieces the rules share: fresh results, unidentified drugs, code text for evidence."""

from __future__ import annotations

from datetime import date

from cds_cyto.core.assessment.recommendation import Evidence
from cds_cyto.core.extract.record import LabResult, PatientRecord, UnresolvedMedication

__all__ = ["code_text", "fresh", "given_on", "unidentified_evidence", "unidentified_since"]

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
