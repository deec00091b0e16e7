"""What a recommendation is: the code, the advice, the evidence it rests on, the rule and its citation.

Its own module because both the rules (`recommend`) and the risk engine (`risk`) build recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from cds_cyto.core.extract.record import LabResult, PatientRecord, UnresolvedMedication

__all__ = [
    "CODES",
    "Evidence",
    "Recommendation",
    "Urgency",
    "code_text",
    "fresh",
    "given_on",
    "unidentified_evidence",
    "unidentified_since",
]

Urgency = Literal["critical", "warning", "info"]
CODES = (
    "gcsf-therapeutic",
    "gcsf-prophylaxis",
    "rbc-transfusion",
    "platelet-transfusion",
    "extended-monitoring",
    "data-quality",
)


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


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact a recommendation rests on: a value with its date and source, or a derived finding."""

    label: str
    value: str
    when: str | None = None  # ISO date or date-time
    source: str | None = None  # e.g. "Observation/123"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "value": self.value}
        if self.when:
            out["when"] = self.when
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True, slots=True)
class Recommendation:
    code: str  # one of CODES
    summary: str  # < 140 characters, with the value and the day
    text: str  # what to do
    urgency: Urgency
    rule: str  # the rule that fired, with its threshold
    citation: str
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    kind: Literal["recommendation", "published-association"] = "recommendation"
    facts: dict[str, Any] = field(default_factory=dict)  # structured values the card's suggestions need

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "summary": self.summary,
            "text": self.text,
            "urgency": self.urgency,
            "rule": self.rule,
            "evidence": [e.to_json() for e in self.evidence],
            "citation": self.citation,
        }


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
