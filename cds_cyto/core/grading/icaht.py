"""ICAHT (neutrophils) and its platelet analogue T-ICAHT, early (days 0–30) and late (days 31–100).

Grades while the window is still open, or while unknown days could raise them, are lower bounds (`provisional`).
A censored result is an interval (grading/interval.py): a day it leaves unknown is such a day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cds_cyto.core.grading.daily import count_below, daily_minima, daily_series, non_transient_low
from cds_cyto.core.grading.interval import Interval, Value, at_most, below
from cds_cyto.core.profile import IcahtRules

Points = Sequence[tuple[int, Value]]

__all__ = ["EarlyGrade", "LateGrade", "early_icaht", "early_t_icaht", "late_icaht", "late_t_icaht"]


@dataclass(frozen=True, slots=True)
class EarlyGrade:
    grade: int | None
    counts: dict[str, int]  # e.g. {"days_le_500": 9, "days_le_100": 2}
    provisional: bool


@dataclass(frozen=True, slots=True)
class LateGrade:
    grade: int | None
    lowest: Value | None  # an Interval when the non-transient low is a censored result
    provisional: bool


def _grade_from_counts(rules: Sequence[Mapping[str, int]], counts: Mapping[str, int]) -> int:
    best = 0
    for rule in rules:
        grade = rule["grade"]
        if all(counts[key] >= minimum for key, minimum in rule.items() if key != "grade"):
            best = max(best, grade)
    return best


def _early(
    points: Points,
    as_of_day: int,
    rules: IcahtRules,
    thresholds: Mapping[str, tuple[float, bool]],  # name → (cut-off, inclusive)
    grade_rules: Sequence[Mapping[str, int]],
) -> EarlyGrade:
    last = rules.early_last_day
    known = daily_minima((d, v) for d, v in points if d <= as_of_day)
    if as_of_day < 0 or not any(0 <= d <= last for d in known):
        return EarlyGrade(None, dict.fromkeys(thresholds, 0), True)
    series = daily_series(known, 0, last, rules.interpolate_max_gap_days)
    # days after as_of are not known yet, whatever interpolation could say
    for i in range(max(as_of_day + 1, 0), last + 1):
        series[i] = None
    lower: dict[str, int] = {}
    upper: dict[str, int] = {}
    for name, (cut, inclusive) in thresholds.items():

        def is_below(v: Value, cut: float = cut, inclusive: bool = inclusive) -> bool | None:
            return at_most(v, cut) if inclusive else below(v, cut)

        lower[name] = count_below(series, is_below, rules.bridge_max_days, unknown_below=False)
        upper[name] = count_below(series, is_below, rules.bridge_max_days, unknown_below=True)
    grade = _grade_from_counts(grade_rules, lower)
    provisional = as_of_day < last or _grade_from_counts(grade_rules, upper) > grade
    return EarlyGrade(grade, lower, provisional)


def early_icaht(points: Points, as_of_day: int, rules: IcahtRules) -> EarlyGrade:
    """ANC ≤ 0.5 and ≤ 0.1 day counts over days 0–30 → early ICAHT grade."""
    return _early(
        points,
        as_of_day,
        rules,
        {"days_le_500": (rules.anc_le500, True), "days_le_100": (rules.anc_le100, True)},
        rules.anc_early_grades,
    )


def early_t_icaht(points: Points, as_of_day: int, rules: IcahtRules) -> EarlyGrade:
    """PLT < 50 and < 20 day counts over days 0–30 → early T-ICAHT grade."""
    return _early(
        points,
        as_of_day,
        rules,
        {"days_lt_50": (rules.plt_lt50, False), "days_lt_20": (rules.plt_lt20, False)},
        rules.plt_early_grades,
    )


def _late_window(points: Points, as_of_day: int, rules: IcahtRules) -> dict[int, Value]:
    first, last = rules.early_last_day + 1, rules.late_last_day
    return daily_minima((d, v) for d, v in points if first <= d <= min(last, as_of_day))


def _late_level(
    window: dict[int, Value], levels: Sequence[tuple[int, float]], test: Callable[[Value, float], bool | None], n: int
) -> tuple[int, bool]:
    """(grade, uncertain): the highest level whose cut-off at least `n` days certainly meet (0 when none), and
    whether a higher level could still be met by days whose test is unknown (censored across its cut-off)."""
    values = list(window.values())
    if not any(isinstance(v, Interval) for v in values):  # all exact: the n-th lowest decides each level
        low = sorted(values)[n - 1]  # type: ignore[type-var]  # only numbers here
        return next((g for g, cut in sorted(levels, reverse=True) if test(low, cut)), 0), False
    uncertain = False
    for grade, cut in sorted(levels, reverse=True):
        tests = [test(v, cut) for v in values]
        if sum(t is True for t in tests) >= n:
            return grade, uncertain
        if sum(t is not False for t in tests) >= n:
            uncertain = True
    return 0, uncertain


def late_icaht(points: Points, as_of_day: int, rules: IcahtRules) -> LateGrade:
    """Days 31–100: the lowest ANC reached on at least two days → 1 (≤ 1.5) … 4 (≤ 0.1)."""
    provisional = as_of_day < rules.late_last_day
    window = _late_window(points, as_of_day, rules)
    lowest = non_transient_low(window, rules.late_min_results)
    if lowest is None:
        return LateGrade(None, None, provisional)
    grade, uncertain = _late_level(window, rules.anc_late_levels, at_most, rules.late_min_results)
    return LateGrade(grade, lowest, provisional or uncertain)


def late_t_icaht(points: Points, as_of_day: int, rules: IcahtRules) -> LateGrade:
    """Days 31–100: PLT < 100 → 1, < 50 → 2, < 20 → 3, < 20 for ≥ 14 days → 4."""
    provisional = as_of_day < rules.late_last_day
    window = _late_window(points, as_of_day, rules)
    lowest = non_transient_low(window, rules.plt_late_min_results)
    if lowest is None:
        return LateGrade(None, None, provisional)
    grade, uncertain = _late_level(window, rules.plt_late_levels, below, rules.plt_late_min_results)
    lt20 = min(b for g, b in rules.plt_late_levels if g == 3)
    if grade >= 3:
        first = rules.early_last_day + 1
        known = daily_minima((d, v) for d, v in points if d <= as_of_day)
        series = daily_series(
            known,
            first,
            min(rules.late_last_day, max(as_of_day, first)),
            rules.interpolate_max_gap_days,
        )

        def lt(v: Value) -> bool | None:
            return below(v, lt20)

        def maybe_lt(v: Value) -> bool:  # a censored day across the cut-off may be below it
            return below(v, lt20) is not False

        if count_below(series, lt, rules.bridge_max_days, unknown_below=False) >= rules.plt_late_grade4_days:
            grade = 4
        elif count_below(series, maybe_lt, rules.bridge_max_days, unknown_below=False) >= rules.plt_late_grade4_days:
            uncertain = True
    return LateGrade(grade, lowest, provisional or uncertain)
