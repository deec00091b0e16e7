"""Ground truth from the charted values: episodes, recovery and day-28 status by clinical-reference.md §3.

This is the simulator's own, deliberately plain reading of the rules, written apart from the engine so that the
two can be checked against each other. It sees exactly what a correct reader of the FHIR output would use: the
values that count (final or amended, not superseded, not entered in error, not a duplicate copy, not an injected
data problem), converted to the canonical unit, on the calendar day written in their own effectiveDateTime.

Rules applied (each a choice where the reference leaves room, recorded in truth.json under `definitions`):
- below = value < threshold;
- before infusion = dated before the infusion date (day < 0): a day-0 result counts as after infusion, whatever
  its time, because therapy events are compared by date;
- onset = first day below; an episode already present at the last result before infusion is not new-onset, and
  its onset (and first nadir) is that result's day;
- recovery = a run of consecutive results (in time order) all >= threshold and none within `lookback_days` after a
  blocking event (G-CSF or the lineage's transfusion), spanning `consecutive` different days; the recovery day is
  the day of the run's first result, and a result below (or blocked) ends the run; the same day can therefore see
  a recovery and, later, a new onset; nadir = lowest value from onset until recovery (first day of it);
- PHT day 28 (seed000) = SN, SA or ST on the result-day closest to day 28 within days 26-30 (earlier of two equally
  close), judged on that day's lowest result; not known when a lineage has no result there (or a closer day could
  still come at the last day with data) and no other lineage is severe;
- not recovered at day 28 (seed001) = an episode with onset <= 28 whose recovery day is missing or > 28;
  not known before day 28, when a lineage has no result on days 0-28, or when its results end inside a run begun
  by day 28. "As of" is the last day with any counted result (the data cut, in effect).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from cds_cyto.simulate.params import LINEAGES, PROFILES, EpisodeRule, Lineage

__all__ = [
    "EpisodeTruth",
    "LabPoint",
    "LineageTruth",
    "definitions",
    "episodes_for",
    "lineage_truth",
    "not_recovered_day28",
    "pht_day28",
]

LabPoint = tuple[int, int, float]  # (day, minute of the local day, canonical value)


@dataclass(frozen=True, slots=True)
class EpisodeTruth:
    profile: str
    onset_day: int
    nadir_value: float
    nadir_day: int
    recovery_day: int | None
    duration_days: int | None
    new_onset: bool | None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LineageTruth:
    severe_before_infusion: bool | None  # at the last result before infusion
    below_after_infusion: bool  # any result after infusion, to day 30, below the threshold
    episodes: tuple[EpisodeTruth, ...]
    days_0_28: bool  # any result on days 0-28
    pending_from: int | None  # first day of an unfinished recovery run when the results end


def _daily_lows(points: Iterable[LabPoint]) -> dict[int, float]:
    lows: dict[int, float] = {}
    for day, _, value in points:
        if day not in lows or value < lows[day]:
            lows[day] = value
    return lows


def episodes_for(points: Sequence[LabPoint], rule: EpisodeRule, blocking_days: Iterable[int]) -> LineageTruth:
    """Episodes of one lineage under one profile. `points` must be sorted by (day, minute)."""
    theta = rule.threshold
    blocked = sorted(set(blocking_days))
    pre = [p for p in points if p[0] < 0]
    post = points[len(pre) :]
    last_pre = pre[-1] if pre else None
    severe_before = None if last_pre is None else last_pre[2] < theta

    def is_blocked(day: int) -> bool:
        return any(day - rule.lookback_days <= b <= day for b in blocked)

    episodes: list[EpisodeTruth] = []
    onset: int | None = None
    nadir_value, nadir_day, pre_existing = 0.0, 0, False
    if severe_before and last_pre is not None:
        onset, nadir_value, nadir_day, pre_existing = last_pre[0], last_pre[2], last_pre[0], True
    run_days: set[int] = set()
    run_start: int | None = None
    for day, _, value in post:
        if onset is None:
            if value < theta:
                onset, nadir_value, nadir_day, pre_existing = day, value, day, False
            continue
        if value < theta or is_blocked(day):
            if value < nadir_value:
                nadir_value, nadir_day = value, day
            run_days, run_start = set(), None
            continue
        run_start = day if run_start is None else run_start
        run_days.add(day)
        if len(run_days) >= rule.consecutive:
            episodes.append(_episode(rule, onset, nadir_value, nadir_day, run_start, pre_existing, severe_before))
            onset, run_days, run_start = None, set(), None
    pending: int | None = None
    if onset is not None:
        episodes.append(_episode(rule, onset, nadir_value, nadir_day, None, pre_existing, severe_before))
        pending = run_start
    return LineageTruth(
        severe_before_infusion=severe_before,
        below_after_infusion=any(v < theta for d, _, v in post if d <= 30),
        episodes=tuple(episodes),
        days_0_28=any(0 <= d <= 28 for d, _, _ in post),
        pending_from=pending,
    )


def _episode(
    rule: EpisodeRule,
    onset: int,
    nadir_value: float,
    nadir_day: int,
    recovery: int | None,
    pre_existing: bool,
    severe_before: bool | None,
) -> EpisodeTruth:
    new_onset = None if severe_before is None else not pre_existing
    duration = None if recovery is None else recovery - onset
    return EpisodeTruth(rule.profile, onset, nadir_value, nadir_day, recovery, duration, new_onset)


def lineage_truth(
    series: Mapping[Lineage, Sequence[LabPoint]], event_days: Mapping[str, Iterable[int]]
) -> dict[str, dict[Lineage, LineageTruth]]:
    """Per profile, per lineage: episodes from the counted series and the blocking events' days."""
    out: dict[str, dict[Lineage, LineageTruth]] = {}
    for profile, rules in PROFILES.items():
        out[profile] = {}
        for lineage in LINEAGES:
            rule = rules[lineage]
            blocking = [d for kind in rule.blocking for d in event_days.get(kind, ())]
            out[profile][lineage] = episodes_for(series.get(lineage, ()), rule, blocking)
    return out


def pht_day28(series: Mapping[Lineage, Sequence[LabPoint]], as_of_day: int) -> bool | None:
    """Seed 000 prolonged hematological toxicity: SN, SA or ST on (the result closest to) day 28.

    As of `as_of_day` (the last day with data): a lineage is not known yet while a closer day could still come.
    """
    unknown = False
    for lineage in LINEAGES:
        lows = _daily_lows(p for p in series.get(lineage, ()) if 26 <= p[0] <= min(30, as_of_day))
        if not lows:
            unknown = True
            continue
        day = min(lows, key=lambda d: (abs(d - 28), d))
        distance = abs(day - 28)
        if distance > 0 and as_of_day < min(30, 28 + distance - 1):
            unknown = True
            continue
        if lows[day] < PROFILES["seed000"][lineage].threshold:
            return True
    return None if unknown else False


def not_recovered_day28(per_lineage: Mapping[Lineage, LineageTruth], as_of_day: int) -> bool | None:
    """Seed 001: any lineage with a grade >= 3 episode (onset <= 28) not recovered by day 28 (None before it)."""
    if as_of_day < 28:
        return None
    unknown = False
    for truth in per_lineage.values():
        if not truth.days_0_28:
            unknown = True
            continue
        for ep in truth.episodes:
            if ep.onset_day > 28 or (ep.recovery_day is not None and ep.recovery_day <= 28):
                continue
            if ep.recovery_day is None and truth.pending_from is not None and truth.pending_from <= 28:
                unknown = True  # the results end inside a run that could still give recovery by day 28
                continue
            return True
    return None if unknown else False


def definitions() -> dict[str, object]:
    """The rules the truth applies, for truth.json."""
    return {
        "source": "clinical-reference.md §2-3, read as described in cds_cyto/simulate/truth.py",
        "day": "calendar date written in the result's own effectiveDateTime minus the infusion date",
        "before_infusion": "dated before the infusion date (day < 0); day-0 results count as after infusion",
        "pre_existing_onset": "the day of the last result before infusion",
        "derived_anc": "WBC x neutrophils % / 100 (rounded to 9 decimals) where a draw has no usable absolute ANC",
        "recovery_run": "consecutive results >= threshold spanning N different days; recovery day = first result's",
        "recovery_blocking": "no result of the run within lookback_days after a blocking event (same day included)",
        "new_onset": "false only for the episode that includes the last result before infusion",
        "pht_day28_seed000": "result-day closest to day 28 within 26-30 (earlier on ties)",
        "not_recovered_day28_seed001": "episode with onset <= 28 and recovery day missing or > 28",
        "pht_day_value": "lowest result of the chosen day",
        "profiles": {
            profile: {
                lineage: {
                    "below": f"< {r.threshold}",
                    "consecutive": r.consecutive,
                    "blocking": list(r.blocking),
                    "lookback_days": r.lookback_days,
                    "source": r.source,
                }
                for lineage, r in rules.items()
            }
            for profile, rules in PROFILES.items()
        },
    }
