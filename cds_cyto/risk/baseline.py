"""Which result stands for "baseline, before lymphodepletion" (clinical-reference.md §5; risk.toml [baseline]).

- Lymphodepletion (LD) start known: the most recent result dated LD−10 … LD−1 (the LD day itself excluded by
  default: the record holds only the date of the first dose, so a same-day result may follow it).
- LD start unknown: the most recent result dated day −14 … −3 relative to the infusion (both ends included).
- Neither date known: no window, no baseline.
Only results dated on or before `as_of` are seen (the engine never looks into the future).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from cds_cyto.record import LabResult, PatientRecord
from cds_cyto.risk.config import RiskData

__all__ = ["BaselineWindow", "baseline_result", "baseline_window", "marrow_baseline"]


@dataclass(frozen=True, slots=True)
class BaselineWindow:
    first: date  # inclusive
    last: date  # inclusive
    anchor: Literal["lymphodepletion", "infusion"]
    source: str

    def to_json(self) -> dict[str, str]:
        return {"first": self.first.isoformat(), "last": self.last.isoformat(), "anchor": self.anchor}


def baseline_window(record: PatientRecord, data: RiskData) -> BaselineWindow | None:
    ld = record.lymphodepletion_start
    if ld is not None:
        last = ld if data.include_ld_day else ld - timedelta(days=1)
        return BaselineWindow(ld - timedelta(days=data.ld_lookback_days), last, "lymphodepletion", data.ld_source)
    day0 = record.infusion_date
    if day0 is not None:
        return BaselineWindow(
            day0 + timedelta(days=data.fallback_first_day),
            day0 + timedelta(days=data.fallback_last_day),
            "infusion",
            data.fallback_source,
        )
    return None


def _latest_between(series: list[LabResult], first: date, last: date, as_of: date) -> LabResult | None:
    found: LabResult | None = None
    for r in series:  # sorted by time: the last match is the most recent
        if first <= r.local_date <= last and r.local_date <= as_of:
            found = r
    return found


def baseline_result(
    record: PatientRecord, analyte: str, window: BaselineWindow | None, as_of: date
) -> LabResult | None:
    if window is None:
        return None
    return _latest_between(record.series(analyte), window.first, window.last, as_of)


def marrow_baseline(record: PatientRecord, data: RiskData, as_of: date) -> LabResult | None:
    """The most recent marrow-blast result before LD (before day 0 when LD is unknown), within the look-back."""
    anchor = record.lymphodepletion_start or record.infusion_date
    if anchor is None:
        return None
    first = anchor - timedelta(days=data.marrow_lookback_days)
    return _latest_between(record.series("marrow_blasts"), first, anchor - timedelta(days=1), as_of)
