"""ICAHT (neutrophils) and its platelet analogue T-ICAHT, early (days 0–30) and late (days 31–100).

Grades while the window is still open, or while unknown days could raise them, are lower bounds (`provisional`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cds_cyto.grading.daily import count_below, daily_minima, daily_series, non_transient_low
from cds_cyto.profile import IcahtRules

__all__ = ["EarlyGrade", "LateGrade", "early_icaht", "early_t_icaht", "late_icaht", "late_t_icaht"]


@dataclass(frozen=True, slots=True)
class EarlyGrade:
    grade: int | None
    counts: dict[str, int]  # e.g. {"days_le_500": 9, "days_le_100": 2}
    provisional: bool


@dataclass(frozen=True, slots=True)
class LateGrade:
    grade: int | None
    lowest: float | None
    provisional: bool


def _grade_from_counts(rules: Sequence[Mapping[str, int]], counts: Mapping[str, int]) -> int:
    best = 0
    for rule in rules:
        grade = rule["grade"]
        if all(counts[key] >= minimum for key, minimum in rule.items() if key != "grade"):
            best = max(best, grade)
    return best


def _early(
    points: Sequence[tuple[int, float]],
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

        def below(v: float, cut: float = cut, inclusive: bool = inclusive) -> bool:
            return v <= cut if inclusive else v < cut

        lower[name] = count_below(series, below, rules.bridge_max_days, unknown_below=False)
        upper[name] = count_below(series, below, rules.bridge_max_days, unknown_below=True)
    grade = _grade_from_counts(grade_rules, lower)
    provisional = as_of_day < last or _grade_from_counts(grade_rules, upper) > grade
    return EarlyGrade(grade, lower, provisional)


def early_icaht(points: Sequence[tuple[int, float]], as_of_day: int, rules: IcahtRules) -> EarlyGrade:
    """ANC ≤ 0.5 and ≤ 0.1 day counts over days 0–30 → early ICAHT grade."""
    return _early(
        points,
        as_of_day,
        rules,
        {"days_le_500": (rules.anc_le500, True), "days_le_100": (rules.anc_le100, True)},
        rules.anc_early_grades,
    )


def early_t_icaht(points: Sequence[tuple[int, float]], as_of_day: int, rules: IcahtRules) -> EarlyGrade:
    """PLT < 50 and < 20 day counts over days 0–30 → early T-ICAHT grade."""
    return _early(
        points,
        as_of_day,
        rules,
        {"days_lt_50": (rules.plt_lt50, False), "days_lt_20": (rules.plt_lt20, False)},
        rules.plt_early_grades,
    )


def _late_window(points: Sequence[tuple[int, float]], as_of_day: int, rules: IcahtRules) -> dict[int, float]:
    first, last = rules.early_last_day + 1, rules.late_last_day
    return daily_minima((d, v) for d, v in points if first <= d <= min(last, as_of_day))


def late_icaht(points: Sequence[tuple[int, float]], as_of_day: int, rules: IcahtRules) -> LateGrade:
    """Days 31–100: the lowest ANC reached on at least two days → 1 (≤ 1.5) … 4 (≤ 0.1)."""
    provisional = as_of_day < rules.late_last_day
    lowest = non_transient_low(_late_window(points, as_of_day, rules), rules.late_min_results)
    if lowest is None:
        return LateGrade(None, None, provisional)
    grade = next((g for g, at_most in rules.anc_late_levels if lowest <= at_most), 0)
    return LateGrade(grade, lowest, provisional)


def late_t_icaht(points: Sequence[tuple[int, float]], as_of_day: int, rules: IcahtRules) -> LateGrade:
    """Days 31–100: PLT < 100 → 1, < 50 → 2, < 20 → 3, < 20 for ≥ 14 days → 4."""
    provisional = as_of_day < rules.late_last_day
    window = _late_window(points, as_of_day, rules)
    lowest = non_transient_low(window, rules.plt_late_min_results)
    if lowest is None:
        return LateGrade(None, None, provisional)
    grade = next((g for g, below in rules.plt_late_levels if lowest < below), 0)
    if grade >= 3:
        first = rules.early_last_day + 1
        known = daily_minima((d, v) for d, v in points if d <= as_of_day)
        series = daily_series(
            known,
            first,
            min(rules.late_last_day, max(as_of_day, first)),
            rules.interpolate_max_gap_days,
        )
        lt20 = min(b for g, b in rules.plt_late_levels if g == 3)
        days = count_below(series, lambda v: v < lt20, rules.bridge_max_days, unknown_below=False)
        if days >= rules.plt_late_grade4_days:
            grade = 4
    return LateGrade(grade, lowest, provisional)
