"""CRS features (clinical-reference.md §6): onset, peak, recovery, maximum grade, tocilizumab / corticosteroid use.

Days are relative to the infusion (day 0); only what is dated on or before `as_of` is seen. One source describes
the whole timeline, in this order of precedence (choices where §6 is silent):

1. "condition" — D89.83x Conditions (`record.crs_episodes`), the coded diagnosis. Episodes with an onset before
   day 0 are not CAR-T CRS and are ignored. onset = the earliest onset; maximum grade = the highest coded grade
   (D89.839 "unspecified" gives no grade); peak = the onset of the earliest episode with the maximum grade (a
   Condition has no daily course); recovery = the latest abatement, only when every dated episode has abated on or
   before `as_of` (an abatement after `as_of` is not yet known). A Condition without an onset date cannot be placed
   on the timeline: it still counts for the maximum grade (a coded grade 3 is not dropped for a missing date).
2. "observation" — daily ASTCT grades (`record.crs_grades`) from day 0: the highest grade per day; onset = the
   first day graded ≥ 1; peak = the first day of the maximum grade; recovery = the first day graded 0 after the
   last day graded ≥ 1. Readings that are all 0 say "no CRS": maximum grade 0.
3. "fever-derived" — no CRS record at all: onset = the first temperature ≥ 38.0 °C on or after day 0. No grade,
   peak or recovery is assigned (a fever alone may be an infection).
4. "none" — nothing above. Maximum grade 0 when temperatures were recorded from day 0 and none reached 38 °C,
   else unknown (None).

Tocilizumab / corticosteroid use: any administration of that kind from day 0 to `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from cds_cyto.record import CrsEpisode, PatientRecord
from cds_cyto.risk.config import RiskData

__all__ = ["CrsFeatures", "CrsSource", "crs_features"]

CrsSource = Literal["condition", "observation", "fever-derived", "none"]


@dataclass(frozen=True, slots=True)
class CrsFeatures:
    source: CrsSource
    max_grade: int | None
    onset_day: int | None
    peak_day: int | None
    recovery_day: int | None
    tocilizumab: bool
    corticosteroid: bool
    day0: date | None = None
    source_ids: tuple[str, ...] = ()  # the resources the timeline rests on
    undated_conditions: int = 0  # Conditions without an onset date (counted for the maximum grade only)

    @property
    def ongoing(self) -> bool:
        """CRS recorded (Condition or daily grade ≥ 1) with no recovery by `as_of`."""
        return (
            self.source in ("condition", "observation")
            and self.onset_day is not None
            and self.recovery_day is None
            and (self.max_grade is None or self.max_grade > 0)
        )

    def date_of(self, day: int | None) -> date | None:
        return None if day is None or self.day0 is None else self.day0 + timedelta(days=day)

    def to_json(self) -> dict[str, Any]:
        return {
            "max_grade": self.max_grade,
            "onset_day": self.onset_day,
            "peak_day": self.peak_day,
            "recovery_day": self.recovery_day,
            "source": self.source,
            "tocilizumab": self.tocilizumab,
            "corticosteroid": self.corticosteroid,
        }


def _from_conditions(
    episodes: list[CrsEpisode], day0: date, as_of: date
) -> tuple[int | None, int | None, int | None, int | None, tuple[str, ...], int] | None:
    dated = [e for e in episodes if e.onset is not None and day0 <= e.onset <= as_of]
    undated = [e for e in episodes if e.onset is None]
    if not dated and not undated:
        return None
    grades = [e.grade for e in dated + undated if e.grade is not None]
    max_grade = max(grades) if grades else None
    onset = min(e.onset for e in dated if e.onset is not None) if dated else None
    peak: date | None = None
    if max_grade is not None:
        peaks = [e.onset for e in dated if e.grade == max_grade and e.onset is not None]
        peak = min(peaks) if peaks else None
    recovery: date | None = None
    abated = [e.abatement for e in dated if e.abatement is not None and e.onset is not None and e.abatement >= e.onset]
    if dated and len(abated) == len(dated) and max(abated) <= as_of:
        recovery = max(abated)
    ids = tuple(e.source_id for e in dated + undated if e.source_id)

    def rel(d: date | None) -> int | None:
        return None if d is None else (d - day0).days

    return max_grade, rel(onset), rel(peak), rel(recovery), ids, len(undated)


def _from_observations(
    record: PatientRecord, day0: date, as_of: date
) -> tuple[int, int | None, int | None, int | None, tuple[str, ...]] | None:
    per_day: dict[int, int] = {}
    ids: list[str] = []
    for g in record.crs_grades:
        if day0 <= g.day_date <= as_of:
            day = (g.day_date - day0).days
            per_day[day] = max(per_day.get(day, 0), g.grade)
            if g.source_id:
                ids.append(g.source_id)
    if not per_day:
        return None
    days = sorted(per_day)
    positive = [d for d in days if per_day[d] >= 1]
    max_grade = max(per_day.values())
    if not positive:
        return 0, None, None, None, tuple(ids)
    peak = next(d for d in days if per_day[d] == max_grade)
    recovery = next((d for d in days if d > positive[-1] and per_day[d] == 0), None)
    return max_grade, positive[0], peak, recovery, tuple(ids)


def crs_features(record: PatientRecord, as_of: date, data: RiskData) -> CrsFeatures:
    day0 = record.infusion_date
    if day0 is None:
        return CrsFeatures("none", None, None, None, None, False, False)

    def given(kind: Literal["tocilizumab", "corticosteroid"]) -> bool:
        return any(day0 <= e.start <= as_of for e in record.events_of(kind))

    toci, steroid = given("tocilizumab"), given("corticosteroid")
    cond = _from_conditions(record.crs_episodes, day0, as_of)
    if cond is not None:
        grade, onset, peak, recovery, ids, undated = cond
        return CrsFeatures("condition", grade, onset, peak, recovery, toci, steroid, day0, ids, undated)
    obs = _from_observations(record, day0, as_of)
    if obs is not None:
        grade, onset, peak, recovery, ids = obs
        return CrsFeatures("observation", grade, onset, peak, recovery, toci, steroid, day0, ids)
    temps = [t for t in record.series("temperature") if day0 <= t.local_date <= as_of]
    fever = next((t for t in temps if t.value >= data.fever_at_least), None)
    if fever is not None:
        ids = (fever.source_id,) if fever.source_id else ()
        onset_day = (fever.local_date - day0).days
        return CrsFeatures("fever-derived", None, onset_day, None, None, toci, steroid, day0, ids)
    return CrsFeatures("none", 0 if temps else None, None, None, None, toci, steroid, day0)
