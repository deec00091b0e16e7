"""Daily series for duration counting (clinical-reference §4, the project's rule after Liang et al.).

A day with results takes its lowest; a day without results between two result days at most `max_gap` days apart
is linearly interpolated; other days are unknown (None). Runs of at most `bridge` days above a threshold between
two below-threshold days count as below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["count_below", "daily_minima", "daily_series", "non_transient_low"]


def daily_minima(points: Iterable[tuple[int, float]]) -> dict[int, float]:
    """{day: lowest value that day} from (day, value) points."""
    out: dict[int, float] = {}
    for day, value in points:
        if day not in out or value < out[day]:
            out[day] = value
    return out


def daily_series(minima: dict[int, float], first: int, last: int, max_gap: int) -> list[float | None]:
    """Values for days first..last (inclusive); result days outside the range still anchor interpolation."""
    days = sorted(minima)
    series: list[float | None] = []
    j = 0  # index of the first known day ≥ the current day
    for day in range(first, last + 1):
        while j < len(days) and days[j] < day:
            j += 1
        if j < len(days) and days[j] == day:
            series.append(minima[day])
            continue
        if 0 < j < len(days):
            a, b = days[j - 1], days[j]
            if b - a <= max_gap:
                va, vb = minima[a], minima[b]
                # rounded as extraction rounds conversions: float noise never moves a value across a cut-off
                series.append(round(va + (vb - va) * (day - a) / (b - a), 9))
                continue
        series.append(None)
    return series


def count_below(series: list[float | None], is_below: Callable[[float], bool], bridge: int, unknown_below: bool) -> int:
    """Days below the threshold after bridging short runs above it; unknown days count as `unknown_below`."""
    flags = [unknown_below if v is None else is_below(v) for v in series]
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
        if i > 0 and j < n and j - i <= bridge and all(v is not None for v in series[i:j]):
            for k in range(i, j):
                flags[k] = True
        i = j
    return sum(flags)


def non_transient_low(minima: dict[int, float], days: int) -> float | None:
    """The lowest value reached on at least `days` different days (a non-transient low)."""
    if days < 1 or len(minima) < days:
        return None
    return sorted(minima.values())[days - 1]
