"""Prolonged hematological toxicity at day 28: seed 000 (SN, SA or ST present on day 28) and seed 001 (any lineage
grade ≥ 3 without recovery by day 28). None when it cannot be told yet or from the data — including a censored
day-28 value on both sides of the severe threshold (grading/interval.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cds_cyto.core.grading.daily import daily_minima
from cds_cyto.core.grading.episodes import Episode
from cds_cyto.core.grading.interval import Value, below

__all__ = ["day28_value", "pht_seed000", "pht_seed001"]

Points = Sequence[tuple[int, Value]]


def day28_value(points: Points, as_of_day: int, day: int, window: tuple[int, int]) -> tuple[int, Value] | None:
    """The (day, lowest value that day) closest to `day` within `window`, the earlier of two equally close.

    None when there is none, or when a closer day could still come (as_of is inside the window).
    """
    lo, hi = window
    minima = daily_minima((d, v) for d, v in points if lo <= d <= min(hi, as_of_day))
    if not minima:
        return None
    best = min(minima, key=lambda d: (abs(d - day), d))
    distance = abs(best - day)
    # a later day strictly closer to `day` than `best` may still arrive
    if distance > 0 and as_of_day < min(hi, day + distance - 1):
        return None
    return best, minima[best]


def pht_seed000(
    points_by_lineage: Mapping[str, Points],
    severe: Mapping[str, float],
    as_of_day: int,
    day: int,
    window: tuple[int, int],
) -> bool | None:
    unknown = False
    for lineage, threshold in severe.items():
        hit = day28_value(points_by_lineage.get(lineage, ()), as_of_day, day, window)
        is_severe = None if hit is None else below(hit[1], threshold)
        if is_severe is None:
            unknown = True
        elif is_severe:
            return True
    return None if unknown else False


def pht_seed001(
    episodes_by_lineage: Mapping[str, Sequence[Episode]],
    points_by_lineage: Mapping[str, Points],
    as_of_day: int,
    day: int,
) -> bool | None:
    """True when a grade ≥ 3 episode starting by `day` has not recovered by `day`."""
    if as_of_day < day:
        return None
    unknown = False
    for lineage, episodes in episodes_by_lineage.items():
        if not any(0 <= d <= day for d, _ in points_by_lineage.get(lineage, ())):
            unknown = True
            continue
        for ep in episodes:
            if ep.onset_day > day:
                continue
            if ep.recovery_day is not None:
                if ep.recovery_day > day:
                    return True
                continue
            # unrecovered at as_of: a qualifying run that began by `day` may still complete
            if ep.recovery_pending_from is not None and ep.recovery_pending_from <= day:
                unknown = True
            else:
                return True
    return None if unknown else False
