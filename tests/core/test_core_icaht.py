"""ICAHT and T-ICAHT (clinical-reference.md §4): boundary tables on day counts and on values, then trajectories —
gaps, interpolation, unstable recoveries (bridging), provisional grades, mixed units in one series."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from cds_cyto.core.grading.daily import count_below, daily_series
from cds_cyto.core.grading.icaht import early_icaht, early_t_icaht, late_icaht, late_t_icaht
from cds_cyto.core.grading.interval import at_most
from cds_cyto.core.profile import default_profile
from tests.core.harness import run
from tests.support.fhir import COUNT_UNITS, in_unit, infusion, obs, series

RULES = default_profile().icaht
NORMAL_ANC = 2.0
NORMAL_PLT = 150.0


def daily(
    values: dict[int, float], first: int = 0, last: int = 30, normal: float = NORMAL_ANC
) -> list[tuple[int, float]]:
    """One result every day first..last: `values[day]` where given, else a normal count."""
    return [(d, values.get(d, normal)) for d in range(first, last + 1)]


def run_of(start: int, length: int, value: float) -> dict[int, float]:
    return {d: value for d in range(start, start + length)}


# ---------------------------------------------------------------------------------------------------------------
# Early ICAHT: duration of ANC ≤ 0.5 and ≤ 0.1 over days 0–30 (daily results, nothing interpolated)
# ---------------------------------------------------------------------------------------------------------------

EARLY_ICAHT_DAYS = [
    # (days ≤ 0.5 (at 0.3), of which ≤ 0.1 (at 0.05), expected grade)
    (0, 0, 0),
    (1, 0, 1),
    (6, 0, 1),
    (7, 0, 2),
    (13, 0, 2),
    (14, 0, 3),
    (30, 0, 3),
    (31, 0, 4),  # every day 0–30: "≥ 31 days"
    (6, 6, 1),  # ≤ 0.1 for < 7 days adds nothing
    (7, 7, 3),
    (13, 6, 2),
    (13, 7, 3),
    (13, 13, 3),
    (14, 13, 3),
    (14, 14, 4),
    (20, 14, 4),
    (30, 13, 3),
]


@pytest.mark.parametrize(("le500", "le100", "grade"), EARLY_ICAHT_DAYS)
def test_early_icaht_day_counts(le500: int, le100: int, grade: int) -> None:
    start = 0 if le500 == 31 else 1
    values = run_of(start, le500, 0.3) | run_of(start, le100, 0.05)
    g = early_icaht(daily(values), 30, RULES)
    assert g.counts == {"days_le_500": le500, "days_le_100": le100}
    assert (g.grade, g.provisional) == (grade, False)


@pytest.mark.parametrize(
    ("value", "counts_le500", "counts_le100"),
    [
        (0.49, True, False),
        (0.5, True, False),  # ≤, unlike CTCAE's <
        (0.51, False, False),
        (0.09, True, True),
        (0.1, True, True),  # ≤
        (0.11, True, False),
    ],
)
@pytest.mark.parametrize(("unit", "per"), list(COUNT_UNITS.items()))
def test_early_icaht_value_edges(value: float, counts_le500: bool, counts_le100: bool, unit: str, per: str) -> None:
    """Seven days at `value` (in every accepted unit), through the whole path."""
    bad_days = range(1, 8)
    resources = [infusion()]
    for d in range(0, 31):
        v = value if d in bad_days else NORMAL_ANC
        resources.append(obs("neutrophils", in_unit(v, per), unit, day=d))
    a = run(*resources, as_of_day=30)
    assert a.icaht_early is not None
    assert a.icaht_early.counts == {"days_le_500": 7 * counts_le500, "days_le_100": 7 * counts_le100}
    assert a.icaht_early.grade == (3 if counts_le100 else 2 if counts_le500 else 0)


def test_early_icaht_counts_only_days_0_to_30() -> None:
    values = run_of(-5, 5, 0.05) | run_of(31, 20, 0.05) | run_of(10, 3, 0.3)
    pts = daily(values, -5, 50)
    g = early_icaht(pts, 50, RULES)
    assert g.counts == {"days_le_500": 3, "days_le_100": 0}
    assert g.grade == 1


# ---------------------------------------------------------------------------------------------------------------
# Gaps and interpolation: a missing day between two results ≤ 7 days apart is linearly interpolated
# ---------------------------------------------------------------------------------------------------------------


def _sparse(points: dict[int, float]) -> list[tuple[int, float]]:
    """Daily normal counts on days 0–30 except the days listed (results) and the gaps between them."""
    first, last = min(points), max(points)
    return sorted([*points.items(), *((d, NORMAL_ANC) for d in range(0, 31) if not first <= d <= last)])


def test_gap_of_seven_days_is_interpolated() -> None:
    g = early_icaht(_sparse({5: 0.3, 12: 0.3}), 30, RULES)  # days 6–11 interpolated at 0.3
    assert g.counts["days_le_500"] == 8
    assert (g.grade, g.provisional) == (2, False)


def test_gap_of_eight_days_is_unknown_and_provisional() -> None:
    g = early_icaht(_sparse({5: 0.3, 13: 0.3}), 30, RULES)  # days 6–12 unknown
    assert g.counts["days_le_500"] == 2  # a lower bound
    assert g.grade == 1
    assert g.provisional is True  # the 7 unknown days could make it grade 2


def test_unknown_days_that_cannot_raise_the_grade_are_not_provisional() -> None:
    # 14 days at 0.3 (grade 3), then 8 unknown days: even all ≤ 0.1 they make 8 days ≤ 0.1 — still grade 3
    pts = [*daily(run_of(0, 14, 0.3), 0, 14), (23, NORMAL_ANC), *daily({}, 24, 30)]
    g = early_icaht(pts, 30, RULES)
    assert (g.grade, g.counts, g.provisional) == (3, {"days_le_500": 14, "days_le_100": 0}, False)


def test_unknown_days_that_could_raise_the_grade_are_provisional() -> None:
    # 7 days ≤ 0.1 (grade 3), then 8 unknown days: all ≤ 0.1 would make 15 days → grade 4
    pts = [*daily(run_of(0, 14, 0.3) | run_of(8, 7, 0.05), 0, 14), (23, NORMAL_ANC), *daily({}, 24, 30)]
    g = early_icaht(pts, 30, RULES)
    assert (g.grade, g.counts, g.provisional) == (3, {"days_le_500": 15, "days_le_100": 7}, True)


def test_linear_interpolation_values() -> None:
    series_ = daily_series({10: 0.2, 14: 1.0}, 10, 14, 7)
    assert series_ == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_interpolated_value_exactly_at_the_cut_off_counts() -> None:
    """Day 10 ANC 0.1, day 16 ANC 0.9: day 13 is exactly 0.5 and must count as ≤ 0.5 (no float noise)."""
    pts = [*daily({}, 0, 9), (10, 0.1), (16, 0.9), *daily({}, 17, 30)]
    g = early_icaht(pts, 30, RULES)
    assert g.counts == {"days_le_500": 4, "days_le_100": 1}  # days 10, 11 (0.233), 12 (0.367), 13 (0.5)


def test_pre_infusion_result_anchors_interpolation() -> None:
    """Documented choice (grading/daily.py): result days outside 0–30 still anchor interpolation."""
    pts = [(-3, 0.3), (3, 0.3), *daily({}, 4, 30)]
    g = early_icaht(pts, 30, RULES)
    assert g.counts["days_le_500"] == 4  # days 0, 1, 2 interpolated + day 3


def test_days_after_the_last_result_are_unknown() -> None:
    pts = daily(run_of(20, 6, 0.3), 0, 25)  # results stop on day 25, still ≤ 0.5
    g = early_icaht(pts, 30, RULES)
    assert g.counts["days_le_500"] == 6
    assert (g.grade, g.provisional) == (1, True)


# ---------------------------------------------------------------------------------------------------------------
# Unstable recoveries: runs above the threshold shorter than 3 days between two below days count as below
# ---------------------------------------------------------------------------------------------------------------

BRIDGING = [
    # (days above between two below runs, counted days ≤ 0.5, grade) — below runs of 4 + 2 days
    (1, 7, 2),
    (2, 8, 2),
    (3, 6, 1),
    (4, 6, 1),
]


@pytest.mark.parametrize(("above", "counted", "grade"), BRIDGING)
def test_unstable_recovery_is_bridged(above: int, counted: int, grade: int) -> None:
    values = run_of(1, 4, 0.3) | run_of(1 + 4, above, 0.8) | run_of(1 + 4 + above, 2, 0.3)
    g = early_icaht(daily(values), 30, RULES)
    assert g.counts["days_le_500"] == counted
    assert g.grade == grade


def test_short_run_above_at_the_edges_is_not_bridged() -> None:
    flags = count_below([0.8, 0.3, 0.3, 0.8, 0.8], lambda v: at_most(v, 0.5), 2, unknown_below=False)
    assert flags == 2


def test_unknown_days_are_never_bridged_into_the_lower_bound() -> None:
    assert count_below([0.3, None, 0.3], lambda v: at_most(v, 0.5), 2, unknown_below=False) == 2
    assert count_below([0.3, None, 0.3], lambda v: at_most(v, 0.5), 2, unknown_below=True) == 3


def test_bridged_day_counts_for_le100_only_when_flanked_by_le100_days() -> None:
    values = run_of(1, 4, 0.05) | {5: 0.3} | run_of(6, 3, 0.05)  # 0.3 is above 0.1 but ≤ 0.5
    g = early_icaht(daily(values), 30, RULES)
    assert g.counts == {"days_le_500": 8, "days_le_100": 8}
    assert g.grade == 3


# ---------------------------------------------------------------------------------------------------------------
# Provisional grades: while day 30 has not been reached, the grade is a lower bound
# ---------------------------------------------------------------------------------------------------------------

PROVISIONAL = [
    # (as_of day, expected grade, days ≤ 0.5 so far, days ≤ 0.1 so far, provisional)
    (0, 1, 1, 0, True),
    (5, 1, 6, 0, True),
    (6, 2, 7, 0, True),
    (12, 2, 13, 6, True),
    (13, 3, 14, 7, True),
    (19, 3, 20, 13, True),
    (20, 4, 21, 14, True),  # grade 4 already, but day 30 not reached: still reported as provisional
    (30, 4, 31, 24, False),
    (45, 4, 31, 24, False),
]


@pytest.mark.parametrize(("as_of", "grade", "le500", "le100", "provisional"), PROVISIONAL)
def test_provisional_before_day_30(as_of: int, grade: int, le500: int, le100: int, provisional: bool) -> None:
    """ANC 0.3 on days 0–6, then 0.05 from day 7: the grade as it stood on each as_of day."""
    pts = daily(run_of(0, 7, 0.3) | run_of(7, 40, 0.05), 0, 45)
    g = early_icaht(pts, as_of, RULES)
    assert (g.grade, g.counts, g.provisional) == (grade, {"days_le_500": le500, "days_le_100": le100}, provisional)


def test_no_result_in_days_0_to_30_gives_no_grade() -> None:
    g = early_icaht([(-2, 0.3), (40, 0.3)], 45, RULES)
    assert (g.grade, g.provisional) == (None, True)
    assert early_icaht(daily({}), -1, RULES).grade is None  # as_of before day 0


def test_results_after_as_of_are_not_used() -> None:
    g = early_icaht(daily(run_of(5, 10, 0.3)), 8, RULES)
    assert g.counts["days_le_500"] == 4  # days 5–8


# ---------------------------------------------------------------------------------------------------------------
# Late ICAHT (days 31–100): the lowest ANC reached by at least two results
# ---------------------------------------------------------------------------------------------------------------

LATE_ICAHT = [
    (1.51, 0), (1.5, 1), (1.49, 1),
    (1.01, 1), (1.0, 2), (0.99, 2),
    (0.51, 2), (0.5, 3), (0.49, 3),
    (0.11, 3), (0.1, 4), (0.09, 4), (0.0, 4),
]  # fmt: skip


@pytest.mark.parametrize(("value", "grade"), LATE_ICAHT)
def test_late_icaht_levels(value: float, grade: int) -> None:
    g = late_icaht([(40, value), (47, value), (60, 3.0)], 100, RULES)
    assert (g.grade, g.lowest, g.provisional) == (grade, value, False)


@pytest.mark.parametrize(("value", "grade"), LATE_ICAHT)
@pytest.mark.parametrize(("unit", "per"), [("10*9/L", "1"), ("/uL", "1000")])
def test_late_icaht_levels_through_evaluate(value: float, grade: int, unit: str, per: str) -> None:
    a = run(
        infusion(),
        obs("neutrophils", in_unit(value, per), unit, day=45),
        obs("neutrophils", in_unit(value, per), unit, day=52),
        as_of_day=100,
    )
    assert a.icaht_late is not None
    assert (a.icaht_late.grade, a.icaht_late.provisional) == (grade, False)


def test_late_icaht_needs_two_results() -> None:
    g = late_icaht([(45, 0.05)], 100, RULES)
    assert (g.grade, g.lowest) == (None, None)


def test_late_icaht_ignores_a_transient_low() -> None:
    g = late_icaht([(40, 0.05), (47, 0.8), (54, 1.2)], 100, RULES)
    assert (g.grade, g.lowest) == (2, 0.8)


def test_late_icaht_two_results_on_one_day_are_one_day() -> None:
    """Documented choice (grading/daily.py second_lowest): at least two different days."""
    g = late_icaht([(40, 0.05), (40, 0.06), (47, 1.2)], 100, RULES)
    assert (g.grade, g.lowest) == (1, 1.2)


def test_late_icaht_window_is_days_31_to_100() -> None:
    g = late_icaht([(30, 0.05), (31, 0.3), (100, 0.3), (101, 0.01), (120, 0.01)], 130, RULES)
    assert (g.grade, g.lowest) == (3, 0.3)


def test_late_icaht_is_provisional_before_day_100() -> None:
    g = late_icaht([(40, 0.8), (47, 0.8)], 60, RULES)
    assert (g.grade, g.provisional) == (2, True)
    assert late_icaht([], 20, RULES).grade is None


# ---------------------------------------------------------------------------------------------------------------
# T-ICAHT (platelets): early < 50 and < 20 day counts; late levels
# ---------------------------------------------------------------------------------------------------------------

EARLY_T_ICAHT = [
    # (days < 50 (at 30), of which < 20 (at 10), grade)
    (0, 0, 0),
    (1, 0, 1),
    (6, 0, 1),
    (7, 0, 2),
    (30, 0, 2),
    (1, 1, 3),
    (13, 13, 3),
    (14, 13, 3),
    (14, 14, 4),
    (31, 31, 4),
]


@pytest.mark.parametrize(("lt50", "lt20", "grade"), EARLY_T_ICAHT)
def test_early_t_icaht_day_counts(lt50: int, lt20: int, grade: int) -> None:
    start = 0 if lt50 == 31 else 1
    values = run_of(start, lt50, 30.0) | run_of(start, lt20, 10.0)
    g = early_t_icaht(daily(values, normal=NORMAL_PLT), 30, RULES)
    assert g.counts == {"days_lt_50": lt50, "days_lt_20": lt20}
    assert (g.grade, g.provisional) == (grade, False)


@pytest.mark.parametrize(
    ("value", "lt50", "lt20"),
    [(50.1, False, False), (50.0, False, False), (49.9, True, False), (20.0, True, False), (19.9, True, True)],
)
def test_early_t_icaht_value_edges(value: float, lt50: bool, lt20: bool) -> None:
    """T-ICAHT uses "<" (50.0 and 20.0 do not count), unlike ICAHT's "≤"."""
    g = early_t_icaht(daily(run_of(1, 7, value), normal=NORMAL_PLT), 30, RULES)
    assert g.counts == {"days_lt_50": 7 * lt50, "days_lt_20": 7 * lt20}


LATE_T_ICAHT = [
    (100.0, 0), (99.9, 1), (50.0, 1), (49.9, 2), (20.0, 2), (19.9, 3), (0.0, 3),
]  # fmt: skip


@pytest.mark.parametrize(("value", "grade"), LATE_T_ICAHT)
def test_late_t_icaht_levels(value: float, grade: int) -> None:
    g = late_t_icaht([(40, value), (50, value), (60, 150.0)], 100, RULES)
    assert (g.grade, g.lowest, g.provisional) == (grade, value, False)


@pytest.mark.parametrize(("days", "grade"), [(2, 3), (13, 3), (14, 4), (30, 4)])
def test_late_t_icaht_grade_4_after_14_days_below_20(days: int, grade: int) -> None:
    pts = daily(run_of(40, days, 10.0), 31, 100, normal=NORMAL_PLT)
    assert late_t_icaht(pts, 100, RULES).grade == grade


def test_late_t_icaht_counts_interpolated_days() -> None:
    pts = [(35, 150.0), (40, 10.0), (47, 10.0), (53, 10.0), (60, 150.0), (100, 150.0)]
    g = late_t_icaht(pts, 100, RULES)
    assert g.grade == 4  # days 40–53 below 20 by interpolation: 14 days


# ---------------------------------------------------------------------------------------------------------------
# Through the whole path: mixed units in one series, provisional flags in the JSON contract
# ---------------------------------------------------------------------------------------------------------------

MIXED = ["10*9/L", "/uL", "K/uL", "{cells}/uL", "10*3/uL", "/mm3", "10^9/L"]


def _mixed_anc(values: Iterable[tuple[int, float]]) -> list[dict[str, object]]:
    out = []
    for i, (d, v) in enumerate(values):
        unit = MIXED[i % len(MIXED)]
        out.append(obs("neutrophils", in_unit(v, COUNT_UNITS[unit]), unit, day=d))
    return out


def test_mixed_units_in_one_series_give_the_same_grades() -> None:
    values = daily(run_of(2, 9, 0.4) | run_of(4, 7, 0.08))
    same = run(infusion(), series("neutrophils", values, "10*9/L"), as_of_day=30)
    mixed = run(infusion(), _mixed_anc(values), as_of_day=30)
    assert mixed.icaht_early == same.icaht_early
    assert mixed.icaht_early is not None
    assert (mixed.icaht_early.grade, mixed.icaht_early.counts) == (3, {"days_le_500": 9, "days_le_100": 7})
    assert mixed.to_json()["icaht"] == same.to_json()["icaht"]


def test_icaht_json_contract() -> None:
    a = run(infusion(), series("neutrophils", daily(run_of(1, 8, 0.3), 0, 12), "10*9/L"))
    out = a.to_json()
    assert a.day == 12
    assert out["icaht"]["early"] == {"grade": 2, "days_le_500": 8, "days_le_100": 0, "provisional": True}
    assert out["icaht"]["late"] == {"grade": None, "lowest": None, "provisional": True}
    assert out["t_icaht"]["early"] == {"grade": None, "days_lt_50": 0, "days_lt_20": 0, "provisional": True}


def test_never_recovered_by_day_30_is_grade_3_unless_all_31_days_count() -> None:
    """Documented choice (clinical-reference.md §4 counting rule): the series runs from day 0 to day 30, so
    "ANC ≤ 0.5 for ≥ 31 days" needs every day 0–30. ANC > 0.5 on day 0 and ≤ 0.5 from day 1 to day 60 (never
    recovered) counts 30 days → grade 3, not 4 — unless ≤ 0.1 for ≥ 14 days."""
    pts = daily(run_of(1, 60, 0.3), 0, 60)
    g = early_icaht(pts, 60, RULES)
    assert (g.grade, g.counts["days_le_500"], g.provisional) == (3, 30, False)
    pts = daily(run_of(0, 61, 0.3), 0, 60)
    assert early_icaht(pts, 60, RULES).grade == 4


def test_late_t_icaht_needs_two_days_below_a_level() -> None:
    """Documented choice: late T-ICAHT reads the lowest PLT reached on at least two days (non-transient), so a
    single day < 20 among counts of 60 is grade 1 (the second-lowest day, 60 < 100), not grade 3."""
    g = late_t_icaht([(40, 15.0), (47, 60.0), (54, 60.0)], 100, RULES)
    assert (g.grade, g.lowest) == (1, 60.0)
