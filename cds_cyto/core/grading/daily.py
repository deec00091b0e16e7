"""Daily series for duration counting (clinical-reference §4, the project's rule after Liang et al.).

A day with results takes its lowest; a day without results between two result days at most `max_gap` days apart
is linearly interpolated; other days are unknown (None). Runs of at most `bridge` days above a threshold between
two below-threshold days count as below.

A censored result is an interval (grading/interval.py): a day's lowest is then an interval too, a threshold test on
it may be unknown, and interpolation runs only between two exact days (a day next to a censored one is unknown).
Unknown days count as not below for the durations, and as below for the bound that keeps a grade provisional.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cds_cyto.core.grading.interval import Interval, Value, lowest

__all__ = ["count_below", "daily_minima", "daily_series", "known_days", "non_transient_low"]


def daily_minima(points: Iterable[tuple[int, Value]]) -> dict[int, Value]:
    """{day: lowest value that day} from (day, value) points."""
    out: dict[int, Value] = {}
    for day, value in points:
        prev = out.get(day)
        if prev is None:
            out[day] = value
        elif prev.__class__ is Interval or value.__class__ is Interval:
            out[day] = lowest((prev, value))
        elif value < prev:  # type: ignore[operator]  # both numbers
            out[day] = value
    return out


def daily_series(minima: dict[int, Value], first: int, last: int, max_gap: int) -> list[Value | None]:
    """Values for days first..last (inclusive); result days outside the range still anchor interpolation."""
    days = sorted(minima)
    series: list[Value | None] = []
    j = 0  # index of the first known day ≥ the current day
    for day in range(first, last + 1):
        while j < len(days) and days[j] < day:
            j += 1
        if j < len(days) and days[j] == day:
            series.append(minima[day])
            continue
        if 0 < j < len(days):
            a, b = days[j - 1], days[j]
            va, vb = minima[a], minima[b]
            if b - a <= max_gap and not isinstance(va, Interval) and not isinstance(vb, Interval):
                # rounded as extraction rounds conversions: float noise never moves a value across a cut-off
                series.append(round(va + (vb - va) * (day - a) / (b - a), 9))
                continue
        series.append(None)
    return series


def count_below(
    series: list[Value | None], is_below: Callable[[Value], bool | None], bridge: int, unknown_below: bool
) -> int:
    """Days below the threshold after bridging short runs above it; a day with no value, or whose test is unknown
    (a censored value across the threshold), counts as `unknown_below`."""
    known = known_days(series, is_below)
    flags = [unknown_below if f is None else f for f in known]
    n = len(flags)
    i = 0
    while i < n:
        if flags[i]:
            i += 1
            continue
        j = i
        while j < n and not flags[j]:
            j += 1
        # days i..j-1 are above; bridge when flanked by below days on both sides and short enough
        if i > 0 and j < n and j - i <= bridge and all(f is not None for f in known[i:j]):
            for k in range(i, j):
                flags[k] = True
        i = j
    return sum(flags)


def known_days(series: list[Value | None], is_below: Callable[[Value], bool | None]) -> list[bool | None]:
    """Per day: below (True), not below (False), or unknown (None: no value, or a censored value across the cut)."""
    return [None if v is None else is_below(v) for v in series]


def _sort_key(v: Value) -> tuple[float, float]:
    return (v, v) if not isinstance(v, Interval) else (v.hi, v.lo)


def non_transient_low(minima: dict[int, Value], days: int) -> Value | None:
    """The lowest value reached on at least `days` different days (a non-transient low); with censored days, ordered
    by their upper ends (for display: grades are judged on the counts, `days_at`)."""
    if days < 1 or len(minima) < days:
        return None
    return sorted(minima.values(), key=_sort_key)[days - 1]
