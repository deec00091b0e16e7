"""Inflammatory-marker peaks from day 0 to `as_of` (seed 000 "max" and "max lg"; clinical-reference.md §6).

max = the highest value dated day 0 … as_of (the record's canonical unit); day = the first day it was reached;
max_lg = log10(max), or None when max ≤ 0 (never −inf). A censored result ("<5", ">5000") counts at its bound: a peak
is a published feature of the value, not a criterion, so it is not an interval test (grading/interval.py); among
equal bounds ">x" counts as higher than x, and x than "<x". The JSON names the comparator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_cyto.core.extract.record import LabResult, PatientRecord
from cds_cyto.core.grading.interval import order_key

__all__ = ["MarkerPeak", "marker_peaks"]


@dataclass(frozen=True, slots=True)
class MarkerPeak:
    analyte: str
    max: float | None
    max_lg: float | None
    day: int | None
    result: LabResult | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "max": self.max,
            "max_lg": None if self.max_lg is None else round(self.max_lg, 4),
            "day": self.day,
        }
        if self.result is not None and self.result.censored:
            out["censored"] = self.result.censored  # the peak is a bound (">5000" counts as 5000)
        if self.result is not None and self.result.note:
            out["note"] = self.result.note  # e.g. D-dimer DDU converted to FEU ×2 (clinical-reference §1)
        return out


def _peak(analyte: str, series: list[LabResult], day0: date, as_of: date) -> MarkerPeak:
    best: LabResult | None = None
    for r in series:
        if day0 <= r.local_date <= as_of and (
            best is None or r.value > best.value or (r.value == best.value and order_key(r) > order_key(best))
        ):
            best = r
    if best is None:
        return MarkerPeak(analyte, None, None, None)
    lg = math.log10(best.value) if best.value > 0 else None
    return MarkerPeak(analyte, best.value, lg, (best.local_date - day0).days, best)


def marker_peaks(record: PatientRecord, as_of: date, analytes: tuple[str, ...]) -> dict[str, MarkerPeak]:
    day0 = record.infusion_date
    if day0 is None:
        return {a: MarkerPeak(a, None, None, None) for a in analytes}
    return {a: _peak(a, record.series(a), day0, as_of) for a in analytes}
