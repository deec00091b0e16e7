"""CRS features (clinical-reference.md §6): onset, peak, recovery, maximum grade, tocilizumab / corticosteroid use.

Days are relative to the infusion (day 0); only what is dated on or before `as_of` is seen. The D89.83x Conditions
(`record.crs_episodes`, the coded episodes) and the daily ASTCT grades a site charts (`record.crs_grades`, the
course) are merged into one timeline, and `sources` says which of them each feature came from:

- maximum grade: the highest of the coded grades and the daily grades (a coded grade 3 is not lowered by daily
  grades that top at 2, nor the reverse); "observation" when the daily grades reach it.
- onset: the earliest of the episodes' onsets and the first day graded ≥ 1 (a tie is the Condition's).
- peak: the first day the maximum grade was reached — from the daily grades when they reach it (they carry the
  course), otherwise the onset of the earliest Condition with that grade (a Condition has no daily course).
- recovery: with Conditions, the latest abatement once every dated episode has abated on or before `as_of`; a daily
  grade ≥ 1 on or after that abatement moves recovery to the daily grades' (the first day graded 0 after the last
  day graded ≥ 1). An episode not yet abated is CRS still running, whatever the daily grades say. Without
  Conditions, the daily grades' recovery.
Where the two sources disagree (grade, or grades past an abatement, or grades back to 0 under an open episode),
`conflicts` says so. Episodes with an onset before day 0 are not CAR-T CRS and are ignored. A Condition without an
onset date cannot be placed on the timeline: it still counts for the maximum grade. Daily grades that are all 0 (and
no Condition) say "no CRS": maximum grade 0.

No CRS record at all: "fever-derived" — onset = the first temperature ≥ 38.0 °C on or after day 0, no grade, peak or
recovery (a fever alone may be an infection); else "none" — maximum grade 0 when temperatures were recorded from
day 0 and none reached 38 °C, else unknown (None).

`source` names the record the timeline rests on: "condition" when there is a CRS Condition (daily grades then add
the course), "observation" with daily grades only, then "fever-derived" / "none".
Tocilizumab / corticosteroid use: any administration of that kind from day 0 to `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from cds_cyto.core.extract.record import CrsEpisode, PatientRecord
from cds_cyto.core.profile.risk_tables import RiskData

__all__ = ["CrsFeatures", "CrsSource", "FeatureSource", "crs_features"]

CrsSource = Literal["condition", "observation", "fever-derived", "none"]
FeatureSource = Literal["condition", "observation", "temperature"]


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
    # feature ("max_grade", "onset", "peak", "recovery") → where its value came from; a feature without a value
    # has no entry
    sources: dict[str, FeatureSource] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()  # where the Conditions and the daily grades disagree
    condition_max_grade: int | None = None  # the highest coded grade alone (None: no graded Condition)
    # every CRS Condition is over by its clinicalStatus (resolved, inactive, remission) but some carry no abatement
    # date: CRS is not active, and the day it recovered is unknown
    resolved_undated: bool = False

    @property
    def ongoing(self) -> bool:
        """CRS recorded (Condition or daily grade ≥ 1) with no recovery by `as_of`."""
        return (
            self.source in ("condition", "observation")
            and self.onset_day is not None
            and self.recovery_day is None
            and not self.resolved_undated
            and (self.max_grade is None or self.max_grade > 0)
        )

    def date_of(self, day: int | None) -> date | None:
        return None if day is None or self.day0 is None else self.day0 + timedelta(days=day)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "max_grade": self.max_grade,
            "onset_day": self.onset_day,
            "peak_day": self.peak_day,
            "recovery_day": self.recovery_day,
            "source": self.source,
            "sources": dict(self.sources),
            "tocilizumab": self.tocilizumab,
            "corticosteroid": self.corticosteroid,
        }
        if self.conflicts:
            out["conflicts"] = list(self.conflicts)
        if self.resolved_undated:
            out["resolved_without_date"] = True
        return out


@dataclass(frozen=True, slots=True)
class _Coded:
    """What the Conditions say, in days from day 0."""

    max_grade: int | None
    onset: int | None
    peak: int | None
    recovery: int | None  # every dated episode abated by as_of
    dated: bool  # at least one episode placed on the timeline
    ids: tuple[str, ...]
    undated: int
    resolved_undated: bool = False  # no recovery day, but every dated episode abated or marked over


@dataclass(frozen=True, slots=True)
class _Charted:
    """What the daily grades say, in days from day 0."""

    max_grade: int
    onset: int | None  # the first day graded ≥ 1
    peak: int | None
    recovery: int | None  # the first day graded 0 after the last day graded ≥ 1
    last_positive: int | None
    ids: tuple[str, ...]


def _from_conditions(episodes: list[CrsEpisode], day0: date, as_of: date) -> _Coded | None:
    dated = [e for e in episodes if e.onset is not None and day0 <= e.onset <= as_of]
    undated = [e for e in episodes if e.onset is None]
    if not dated and not undated:
        return None
    grades = [e.grade for e in dated + undated if e.grade is not None]
    max_grade = max(grades) if grades else None
    onsets = [e.onset for e in dated if e.onset is not None]
    peaks = [e.onset for e in dated if e.grade == max_grade and e.onset is not None] if max_grade is not None else []
    recovery: date | None = None
    abated = [e.abatement for e in dated if e.abatement is not None and e.onset is not None and e.abatement >= e.onset]
    if dated and len(abated) == len(dated) and max(abated) <= as_of:
        recovery = max(abated)
    # An episode with no abatement date whose status says it is over has ended on a day nobody wrote down; one with
    # a date is judged by its date (its status today says nothing of an earlier as_of).
    over = [e for e in dated if (e.abatement <= as_of if e.abatement is not None else e.resolved)]
    resolved_undated = recovery is None and bool(dated) and len(over) == len(dated)

    def rel(d: date | None) -> int | None:
        return None if d is None else (d - day0).days

    ids = tuple(e.source_id for e in dated + undated if e.source_id)
    return _Coded(
        max_grade,
        rel(min(onsets)) if onsets else None,
        rel(min(peaks)) if peaks else None,
        rel(recovery),
        bool(dated),
        ids,
        len(undated),
        resolved_undated,
    )


def _from_observations(record: PatientRecord, day0: date, as_of: date) -> _Charted | None:
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
        return _Charted(0, None, None, None, None, tuple(ids))
    peak = next(d for d in days if per_day[d] == max_grade)
    recovery = next((d for d in days if d > positive[-1] and per_day[d] == 0), None)
    return _Charted(max_grade, positive[0], peak, recovery, positive[-1], tuple(ids))


def _day(day: int) -> str:
    return f"day +{day}" if day >= 0 else f"day {day}"


_Merged = tuple[int | None, int | None, int | None, int | None, dict[str, FeatureSource], tuple[str, ...]]


def _merge(coded: _Coded | None, charted: _Charted | None) -> _Merged:
    """(max grade, onset, peak, recovery, sources, conflicts) of the merged timeline."""
    sources: dict[str, FeatureSource] = {}
    conflicts: list[str] = []
    coded_grade = coded.max_grade if coded else None
    charted_grade = charted.max_grade if charted else None
    known = [g for g in (coded_grade, charted_grade) if g is not None]
    max_grade = max(known) if known else None
    if max_grade is not None:
        sources["max_grade"] = "observation" if charted_grade == max_grade else "condition"
    if coded_grade is not None and charted_grade is not None and coded_grade != charted_grade:
        conflicts.append(
            f"the CRS Conditions code grade {coded_grade}, the daily CRS grades reach {charted_grade}: "
            f"the higher ({max_grade}) is used"
        )

    placed: list[tuple[int, FeatureSource]] = []
    if coded is not None and coded.onset is not None:
        placed.append((coded.onset, "condition"))
    if charted is not None and charted.onset is not None:
        placed.append((charted.onset, "observation"))
    onset: int | None = None
    if placed:
        onset, sources["onset"] = min(placed, key=lambda p: p[0])  # a tie: the Condition's (listed first)

    peak: int | None = None
    if charted is not None and charted.peak is not None and charted.max_grade == max_grade:
        peak, sources["peak"] = charted.peak, "observation"
    elif coded is not None and coded.peak is not None:
        peak, sources["peak"] = coded.peak, "condition"

    recovery: int | None = None
    if coded is not None and coded.dated:
        if coded.recovery is None and coded.resolved_undated:
            if charted is not None and charted.recovery is not None:
                recovery, sources["recovery"] = charted.recovery, "observation"
        elif coded.recovery is None:
            if charted is not None and charted.recovery is not None:
                conflicts.append(
                    f"the daily CRS grades are 0 from {_day(charted.recovery)} but a CRS Condition has not abated: "
                    "CRS is read as ongoing"
                )
        elif charted is not None and charted.last_positive is not None and charted.last_positive >= coded.recovery:
            conflicts.append(
                f"a daily CRS grade ≥ 1 on {_day(charted.last_positive)}, after the Conditions' abatement on "
                f"{_day(coded.recovery)}: recovery is read from the daily grades"
            )
            recovery = charted.recovery
            if recovery is not None:
                sources["recovery"] = "observation"
        else:
            recovery, sources["recovery"] = coded.recovery, "condition"
    elif charted is not None and charted.recovery is not None:
        recovery, sources["recovery"] = charted.recovery, "observation"
    return max_grade, onset, peak, recovery, sources, tuple(conflicts)


def crs_features(record: PatientRecord, as_of: date, data: RiskData) -> CrsFeatures:
    day0 = record.infusion_date
    if day0 is None:
        return CrsFeatures("none", None, None, None, None, False, False)

    def given(kind: Literal["tocilizumab", "corticosteroid"]) -> bool:
        return any(day0 <= e.start <= as_of for e in record.events_of(kind))

    toci, steroid = given("tocilizumab"), given("corticosteroid")
    coded = _from_conditions(record.crs_episodes, day0, as_of)
    charted = _from_observations(record, day0, as_of)
    if coded is not None or charted is not None:
        grade, onset, peak, recovery, sources, conflicts = _merge(coded, charted)
        return CrsFeatures(
            "condition" if coded is not None else "observation",
            grade,
            onset,
            peak,
            recovery,
            toci,
            steroid,
            day0,
            (coded.ids if coded else ()) + (charted.ids if charted else ()),
            coded.undated if coded else 0,
            sources,
            conflicts,
            coded.max_grade if coded else None,
            coded is not None and coded.resolved_undated and recovery is None,
        )
    temps = [t for t in record.series("temperature") if day0 <= t.local_date <= as_of]
    fever = next((t for t in temps if t.value >= data.fever_at_least), None)
    if fever is not None:
        ids = (fever.source_id,) if fever.source_id else ()
        onset_day = (fever.local_date - day0).days
        return CrsFeatures(
            "fever-derived", None, onset_day, None, None, toci, steroid, day0, ids, sources={"onset": "temperature"}
        )
    if temps:
        return CrsFeatures("none", 0, None, None, None, toci, steroid, day0, sources={"max_grade": "temperature"})
    return CrsFeatures("none", None, None, None, None, toci, steroid, day0)
