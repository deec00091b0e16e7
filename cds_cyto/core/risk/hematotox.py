"""CAR-HEMATOTOX (Rejeski et al., Blood 2021; clinical-reference.md §5), read from risk.toml [hematotox].

Each variable's baseline is chosen by `baseline.py`; the bands are compared in the record's canonical unit
(Hb 90 g/L = 9.0 g/dL, CRP 30 mg/L = 3.0 mg/dL). A variable without a baseline result is *missing*: the score is
then the sum of the points known (a lower bound), `complete` is False, and `high_risk` is
  True  — the known points already reach the high-risk cut-off (more points can only add),
  None  — incomplete and below the cut-off (the missing variables could still reach it),
  False — complete and below the cut-off.
`score` is None when no variable is known at all. A censored baseline ("<100") whose band cannot be told (it spans
two bands) gives no points: the variable counts as missing, never as 0 (grading/interval.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_cyto.core.extract.record import LabResult, PatientRecord
from cds_cyto.core.grading.interval import test
from cds_cyto.core.profile.risk_tables import HematotoxVariable, RiskData
from cds_cyto.core.risk.baseline import BaselineWindow, baseline_result, baseline_window

__all__ = ["Hematotox", "HematotoxComponent", "car_hematotox"]


@dataclass(frozen=True, slots=True)
class HematotoxComponent:
    name: str
    analyte: str
    unit: str
    published: str
    result: LabResult | None
    points: int | None

    @property
    def value(self) -> float | None:
        return None if self.result is None else self.result.value

    @property
    def date(self) -> date | None:
        return None if self.result is None else self.result.local_date

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "points": self.points,
            "date": None if self.date is None else self.date.isoformat(),
            "source": None if self.result is None else self.result.source_id,
        }


@dataclass(frozen=True, slots=True)
class Hematotox:
    score: int | None
    high_risk: bool | None
    complete: bool
    missing: tuple[str, ...]
    components: tuple[HematotoxComponent, ...]
    window: BaselineWindow | None
    caveat: str | None
    performance: str
    citation: str
    high_risk_at_least: int
    max_score: int

    def component(self, name: str) -> HematotoxComponent:
        return next(c for c in self.components if c.name == name)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "score": self.score,
            "high_risk": self.high_risk,
            "complete": self.complete,
            "missing": list(self.missing),
            "components": {c.name: c.to_json() for c in self.components},
        }
        if self.caveat:
            out["caveat"] = self.caveat
        out["performance"] = self.performance
        return out


def _points(var: HematotoxVariable, r: LabResult) -> int | None:
    """The first band whose condition holds for every value `r` can be; None when a band before it might hold."""
    if r.censored is None:
        return var.points(r.value)
    for band in var.bands:
        holds = test(band.op, r, band.value)
        if holds is None:
            return None
        if holds:
            return band.points
    return 0


def car_hematotox(record: PatientRecord, as_of: date, data: RiskData, disease: str | None) -> Hematotox:
    """`disease` is already normalised ("ALL", "NHL", … or None)."""
    window = baseline_window(record, data)
    components: list[HematotoxComponent] = []
    for var in data.hematotox_variables:
        result = baseline_result(record, var.analyte, window, as_of)
        points = None if result is None else _points(var, result)
        components.append(HematotoxComponent(var.name, var.analyte, var.unit, var.published, result, points))
    known = [c.points for c in components if c.points is not None]
    missing = tuple(c.name for c in components if c.points is None)
    score = sum(known) if known else None
    cut = data.hematotox_high_risk_at_least
    high_risk: bool | None
    if score is not None and score >= cut:
        high_risk = True
    elif missing:
        high_risk = None
    else:
        high_risk = False
    return Hematotox(
        score=score,
        high_risk=high_risk,
        complete=not missing,
        missing=missing,
        components=tuple(components),
        window=window,
        caveat=data.hematotox_caveats.get(disease) if disease else None,
        performance=data.hematotox_performance,
        citation=data.hematotox_citation,
        high_risk_at_least=cut,
        max_score=data.hematotox_max_score,
    )
