"""The Assessment: what `evaluate` concluded for one patient, and its JSON contract (README, "Assessment JSON").

Canonical units in the JSON: counts ×10⁹/L, Hb g/L.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cds_cyto.core.assessment.recommendation import Recommendation
from cds_cyto.core.extract.record import DataProblem, LabResult, PatientRecord
from cds_cyto.core.grading.episodes import Episode
from cds_cyto.core.grading.icaht import EarlyGrade, LateGrade
from cds_cyto.core.grading.interval import Interval, Value
from cds_cyto.core.risk import RiskAssessment

__all__ = ["Assessment", "LineageAssessment", "assessment_to_json", "result_json"]

SCHEMA_VERSION = "1"


@dataclass(slots=True)
class LineageAssessment:
    lineage: str
    latest: LabResult | None
    ctcae: dict[str, int | None]  # the grade; for a censored value spanning grades, the lowest it certainly has
    severe: bool | None  # seed 000 severe (SN/SA/ST)
    grade3plus: bool | None  # seed 001 grade ≥ 3
    cytopenia: bool | None  # seed 000 cytopenia (not severe), sex-specific for Hb
    nadir: tuple[float, int, LabResult] | None  # value, day, result — day 0 to as_of
    baseline: LabResult | None  # last value before infusion
    episodes: list[Episode] = field(default_factory=list)
    ctcae_exact: dict[str, bool] = field(default_factory=dict)  # False: `ctcae` is a lower bound ("≥ 3")

    def ctcae_text(self, version: str) -> str | None:
        """ "3", "≥ 3" (a censored value spanning grades), or None when the grade cannot be told."""
        g = self.ctcae.get(version)
        return None if g is None else (str(g) if self.ctcae_exact.get(version, True) else f"≥ {g}")


@dataclass(slots=True)
class Assessment:
    patient_id: str | None
    as_of: date | None
    infusion_date: date | None
    day: int | None
    lineages: dict[str, LineageAssessment]
    icaht_early: EarlyGrade | None
    icaht_late: LateGrade | None
    t_icaht_early: EarlyGrade | None
    t_icaht_late: LateGrade | None
    pht_day28: dict[str, bool | None]
    data_problems: list[DataProblem]
    profile_versions: dict[str, str]
    record: PatientRecord = field(repr=False)
    risk: RiskAssessment | None = None
    recommendations: list[Recommendation] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return assessment_to_json(self)


def result_json(r: LabResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "value": r.value,
        "unit": r.unit,
        "time": r.time.isoformat(),
        "source": r.source_id,
    }
    if r.censored:
        out["censored"] = r.censored
    if r.derived:
        out["derived"] = True
    if r.note:
        out["note"] = r.note
    if r.value != r.original_value or r.original_unit != r.unit:
        out["original"] = {"value": r.original_value, "unit": r.original_unit}
    return out


def _lineage_json(la: LineageAssessment) -> dict[str, Any]:
    return {
        "latest": result_json(la.latest) if la.latest else None,
        "ctcae": la.ctcae,  # for a censored value spanning grades, the lowest grade: ctcae_exact is then false
        "ctcae_exact": {v: la.ctcae_exact.get(v, True) for v in la.ctcae},
        "severe": la.severe,
        "grade3plus": la.grade3plus,
        "cytopenia": la.cytopenia,
        "baseline": result_json(la.baseline) if la.baseline else None,
        "nadir": _nadir(la),
        "episodes": [
            {
                "profile": e.profile,
                "onset_day": e.onset_day,
                "nadir_value": e.nadir_value,
                **({"nadir_censored": e.nadir_censored} if e.nadir_censored else {}),
                "nadir_day": e.nadir_day,
                "recovery_day": e.recovery_day,
                "duration_days": e.duration_days,
                "new_onset": e.new_onset,
            }
            for e in la.episodes
        ],
    }


def _nadir(la: LineageAssessment) -> dict[str, Any] | None:
    if la.nadir is None:
        return None
    out: dict[str, Any] = {"value": la.nadir[0], "day": la.nadir[1]}
    if la.nadir[2].censored:
        out["censored"] = la.nadir[2].censored
    return out


def _value(v: Value | None) -> Any:
    """A series value: its number, or for a censored one its ends by comparator ({"<": 0.1}; {">": 0.2, "<=": 0.3})."""
    if not isinstance(v, Interval):
        return v
    out: dict[str, Any] = {}
    if v.lo != float("-inf"):
        out[">" if v.lo_open else ">="] = v.lo
    if v.hi != float("inf"):
        out["<" if v.hi_open else "<="] = v.hi
    return out


def _early(g: EarlyGrade | None, keys: tuple[str, str]) -> dict[str, Any]:
    if g is None:
        return {"grade": None, keys[0]: None, keys[1]: None, "provisional": True}
    return {"grade": g.grade, **{k: g.counts[k] for k in keys}, "provisional": g.provisional}


def _late(g: LateGrade | None) -> dict[str, Any]:
    if g is None:
        return {"grade": None, "lowest": None, "provisional": True}
    return {"grade": g.grade, "lowest": _value(g.lowest), "provisional": g.provisional}


def assessment_to_json(a: Assessment) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "patient_id": a.patient_id,
        "as_of": a.as_of.isoformat() if a.as_of else None,
        "infusion_date": a.infusion_date.isoformat() if a.infusion_date else None,
        "day": a.day,
        "lineages": {name: _lineage_json(la) for name, la in a.lineages.items()},
        "icaht": {
            "early": _early(a.icaht_early, ("days_le_500", "days_le_100")),
            "late": _late(a.icaht_late),
        },
        "t_icaht": {
            "early": _early(a.t_icaht_early, ("days_lt_50", "days_lt_20")),
            "late": _late(a.t_icaht_late),
        },
        "pht_day28": dict(a.pht_day28),
        "data_problems": [
            {
                "resource": p.resource,
                "code": p.code,
                "reason": p.reason,
                "severity": p.severity,
                "date": p.when.isoformat() if p.when is not None else None,
            }
            for p in a.data_problems
        ],
        "risk": a.risk.to_json() if a.risk is not None else None,
        "recommendations": [r.to_json() for r in a.recommendations],
        "profile_versions": a.profile_versions,
    }
