"""Which result stands for "baseline, before lymphodepletion" (clinical-reference.md §5; risk.toml [baseline]).

- Lymphodepletion (LD) start known: the most recent result dated LD−10 … LD. On the LD day a result counts when it
  was drawn before the first dose (lymphodepletion does not change counts within hours); when the dose or the
  result has a date only, a same-day result counts. LD start is the first fludarabine/cyclophosphamide dose in the
  14 days (risk.toml) before the infusion: an earlier bridging dose never moves the window.
- LD start unknown: the most recent result dated day −14 … −3 relative to the infusion (both ends included).
- Neither date known: no window, no baseline.
Only results dated on or before `as_of` are seen (the engine never looks into the future).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from cds_cyto.core.extract.record import LabResult, PatientRecord
from cds_cyto.core.profile.risk_tables import RiskData

__all__ = ["BaselineWindow", "baseline_result", "baseline_window", "marrow_baseline"]


@dataclass(frozen=True, slots=True)
class BaselineWindow:
    first: date  # inclusive
    last: date  # inclusive
    anchor: Literal["lymphodepletion", "infusion"]
    source: str
    before: datetime | None = None  # on the `last` day, only results drawn before this instant (the first LD dose)

    def to_json(self) -> dict[str, str]:
        out = {"first": self.first.isoformat(), "last": self.last.isoformat(), "anchor": self.anchor}
        if self.before is not None:
            out["last_day_before"] = self.before.isoformat()
        return out

    def holds(self, r: LabResult) -> bool:
        if not self.first <= r.local_date <= self.last:
            return False
        return r.local_date < self.last or self.before is None or _date_only(r) or r.time < self.before


def _date_only(r: LabResult) -> bool:
    # extraction gives a date-only effective[x] midnight UTC on its date (a result charted at exactly 00:00Z reads
    # the same: it then counts, as a same-day result with a date only does)
    return r.time.tzinfo is UTC and r.time.time() == time(0) and r.time.date() == r.local_date


def baseline_window(record: PatientRecord, data: RiskData) -> BaselineWindow | None:
    ld = record.lymphodepletion_start(data.ld_within_days)
    if ld is not None:
        first_dose = record.lymphodepletion_first_dose_time(data.ld_within_days)
        first = ld - timedelta(days=data.ld_lookback_days)
        return BaselineWindow(first, ld, "lymphodepletion", data.ld_source, first_dose)
    day0 = record.infusion_date
    if day0 is not None:
        return BaselineWindow(
            day0 + timedelta(days=data.fallback_first_day),
            day0 + timedelta(days=data.fallback_last_day),
            "infusion",
            data.fallback_source,
        )
    return None


def _latest_within(series: list[LabResult], window: BaselineWindow, as_of: date) -> LabResult | None:
    found: LabResult | None = None
    first, last = window.first, window.last
    for r in series:  # sorted by time: the last match is the most recent
        day = r.local_date
        # the window's dates first, inline: nearly every result of a series lies outside it
        if first <= day <= last and day <= as_of and window.holds(r):
            found = r
    return found


def baseline_result(
    record: PatientRecord, analyte: str, window: BaselineWindow | None, as_of: date
) -> LabResult | None:
    if window is None:
        return None
    return _latest_within(record.series(analyte), window, as_of)


def marrow_baseline(record: PatientRecord, data: RiskData, as_of: date) -> LabResult | None:
    """The most recent marrow-blast result before LD (the same-day rule as the blood counts), or before day 0 when
    LD is unknown, within the look-back."""
    ld = record.lymphodepletion_start(data.ld_within_days)
    if ld is not None:
        before = record.lymphodepletion_first_dose_time(data.ld_within_days)
        window = BaselineWindow(ld - timedelta(days=data.marrow_lookback_days), ld, "lymphodepletion", "", before)
    elif record.infusion_date is not None:
        day0 = record.infusion_date
        window = BaselineWindow(
            day0 - timedelta(days=data.marrow_lookback_days), day0 - timedelta(days=1), "infusion", ""
        )
    else:
        return None
    return _latest_within(record.series("marrow_blasts"), window, as_of)
