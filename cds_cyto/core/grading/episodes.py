"""Episodes of one lineage's severe cytopenia under one definition profile (clinical-reference §3).

onset = first day below the threshold; nadir = lowest value and its (first) day; recovery = the first of
`rule.results` consecutive results on different days at or above `rule.at_least`, none of them within
`rule.lookback_days` after an event that blocks recovery (a transfusion; G-CSF where the profile says so);
duration = recovery day − onset day. An episode already present at the last pre-infusion value is not new-onset;
its onset is that value's day.

A censored result is an interval (grading/interval.py): it starts an episode only when it is certainly below the
threshold, counts toward recovery only when it is certainly at or above `rule.at_least`, and otherwise (unknown)
breaks a qualifying run without resetting the episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from cds_cyto.core.extract.record import LabResult, TherapyEvent
from cds_cyto.core.grading.interval import at_least, below, order_key, rank
from cds_cyto.core.profile import RecoveryRule

__all__ = ["Episode", "find_episodes", "is_blocked"]


@dataclass(slots=True)
class Episode:
    profile: str
    onset_day: int
    nadir_value: float
    nadir_day: int
    new_onset: bool
    nadir_censored: str | None = None  # the nadir result's comparator ("<" for "<0.1")
    recovery_day: int | None = None
    evidence: list[str] = field(default_factory=list)  # source ids: onset, nadir, recovery results
    recovery_pending_from: int | None = None  # first day of an unfinished qualifying run at as_of

    @property
    def duration_days(self) -> int | None:
        return None if self.recovery_day is None else self.recovery_day - self.onset_day


def is_blocked(on: date, blockers: Sequence[TherapyEvent], lookback_days: int) -> bool:
    """True when a blocking event was given on `on` or in the `lookback_days` before it."""
    for e in blockers:
        last = e.end if e.end is not None and e.end > e.start else e.start
        if e.start <= on and (on - last).days <= lookback_days:
            return True
    return False


def find_episodes(
    profile: str,
    results: Sequence[LabResult],
    day0: date,
    threshold: float,
    rule: RecoveryRule,
    events: Sequence[TherapyEvent],
) -> list[Episode]:
    """Episodes from results (time-ordered, already limited to as_of)."""
    blockers = [e for e in events if e.kind in rule.blocked_by]
    episodes: list[Episode] = []
    current: Episode | None = None
    baseline = None
    for r in results:
        if r.local_date < day0:
            baseline = r
        else:
            break
    if baseline is not None and below(baseline, threshold):
        day = (baseline.local_date - day0).days
        current = _start(profile, baseline, day, new_onset=False)
    run_days: set[int] = set()
    run_start: int | None = None
    run_ids: list[str] = []
    for r in results:
        day = (r.local_date - day0).days
        if day < 0:
            continue
        low = r.value < threshold if r.censored is None else below(r, threshold)  # an exact value: the plain test
        if current is None:
            if low:
                current = _start(profile, r, day, new_onset=True)
            continue
        if low is not False:  # below, or perhaps below: no recovery run goes through it
            if r.value < current.nadir_value or (
                r.value == current.nadir_value and order_key(r) < (current.nadir_value, rank(current.nadir_censored))
            ):
                current.nadir_value, current.nadir_day, current.nadir_censored = r.value, day, r.censored
                current.evidence.append(r.source_id or "")
            run_days, run_start, run_ids = set(), None, []
            continue
        recovered = r.value >= rule.at_least if r.censored is None else at_least(r, rule.at_least)
        if recovered and not (blockers and is_blocked(r.local_date, blockers, rule.lookback_days)):
            if run_start is None:
                run_start = day
            run_days.add(day)
            run_ids.append(r.source_id or "")
            if len(run_days) >= rule.results:
                current.recovery_day = run_start
                current.evidence.extend(run_ids)
                episodes.append(current)
                current, run_days, run_start, run_ids = None, set(), None, []
        else:
            run_days, run_start, run_ids = set(), None, []
    if current is not None:
        current.recovery_pending_from = run_start
        episodes.append(current)
    return episodes


def _start(profile: str, r: LabResult, day: int, new_onset: bool) -> Episode:
    return Episode(profile, day, r.value, day, new_onset, r.censored, evidence=[r.source_id or ""])
