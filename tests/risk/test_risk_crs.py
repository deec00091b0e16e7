"""CRS features (clinical-reference.md §6): from Conditions, from daily grade Observations, fever-derived, none;
the as_of cut; tocilizumab / corticosteroid use."""

from __future__ import annotations

import pytest

from cds_cyto.core.profile import default_profile
from cds_cyto.core.risk import crs_features
from cds_cyto.core.risk.crs import CrsFeatures
from tests.risk.risk_fhir import (
    DEXAMETHASONE,
    TOCILIZUMAB,
    crs_condition,
    crs_grade,
    infusion,
    med,
    obs,
    record_of,
    risk_of,
)
from tests.support.fhir import Json, day_date


def _crs(*resources: Json, as_of_day: int = 30) -> CrsFeatures:
    return risk_of(infusion(), *resources, as_of_day=as_of_day).crs


# ---- Conditions ------------------------------------------------------------------------------------------------


def test_single_condition() -> None:
    c = _crs(crs_condition(2, 3, 9, id="c1"))
    assert (c.source, c.max_grade, c.onset_day, c.peak_day, c.recovery_day) == ("condition", 2, 3, 3, 9)
    assert c.source_ids == ("Condition/c1",)
    assert not c.ongoing


def test_several_conditions_peak_is_onset_of_the_highest_grade_episode() -> None:
    c = _crs(crs_condition(1, 2, 4), crs_condition(3, 4, 8), crs_condition(2, 8, 12))
    assert (c.max_grade, c.onset_day, c.peak_day, c.recovery_day) == (3, 2, 4, 12)


def test_equal_grades_peak_is_the_earliest() -> None:
    c = _crs(crs_condition(2, 5, 7), crs_condition(2, 3, 4))
    assert (c.peak_day, c.onset_day) == (3, 3)


def test_recovery_needs_every_episode_abated() -> None:
    c = _crs(crs_condition(1, 2, 4), crs_condition(2, 5, None))
    assert c.recovery_day is None and c.ongoing


def test_abatement_after_as_of_is_not_yet_known() -> None:
    assert _crs(crs_condition(2, 3, 9), as_of_day=8).recovery_day is None
    assert _crs(crs_condition(2, 3, 9), as_of_day=9).recovery_day == 9


def test_condition_after_as_of_is_not_seen() -> None:
    c = _crs(crs_condition(3, 5, 9), as_of_day=4)
    assert c.source != "condition" and c.max_grade != 3


def test_condition_before_day0_is_not_car_t_crs() -> None:
    assert _crs(crs_condition(2, -2, 1)).source != "condition"


def test_unspecified_grade() -> None:
    c = _crs(crs_condition(None, 3, 6))
    assert (c.source, c.max_grade, c.onset_day, c.peak_day, c.recovery_day) == ("condition", None, 3, None, 6)


def test_undated_condition_counts_for_the_grade_only() -> None:
    c = _crs(crs_condition(3, None), crs_condition(1, 2, 3))
    assert (c.max_grade, c.onset_day, c.peak_day, c.undated_conditions) == (3, 2, None, 1)


# ---- Conditions and daily grades merged into one timeline (§6) ------------------------------------------------


def test_condition_only_says_so_per_feature() -> None:
    c = _crs(crs_condition(2, 3, 9))
    assert c.sources == {"max_grade": "condition", "onset": "condition", "peak": "condition", "recovery": "condition"}
    assert c.conflicts == ()


def test_grades_only_say_so_per_feature() -> None:
    c = _crs(crs_grade(1, 2), crs_grade(2, 4), crs_grade(0, 6))
    assert (c.source, c.max_grade, c.onset_day, c.peak_day, c.recovery_day) == ("observation", 2, 2, 4, 6)
    assert set(c.sources.values()) == {"observation"} and len(c.sources) == 4


def test_both_the_peak_comes_from_the_daily_course() -> None:
    # the reported problem: a grade-3 Condition from day 2, abated day 9, and daily grades 1, 2, 3, 3, 1: the peak is
    # day 4 (first day at grade 3), not the Condition's onset
    c = _crs(
        crs_condition(3, 2, 9),
        crs_grade(1, 2),
        crs_grade(2, 3),
        crs_grade(3, 4),
        crs_grade(3, 5),
        crs_grade(1, 7),
    )
    assert (c.source, c.max_grade, c.onset_day, c.peak_day, c.recovery_day) == ("condition", 3, 2, 4, 9)
    assert c.sources == {
        "max_grade": "observation",
        "onset": "condition",
        "peak": "observation",
        "recovery": "condition",
    }
    assert c.conflicts == () and not c.ongoing
    assert c.to_json()["sources"]["peak"] == "observation"


def test_both_onset_is_the_earliest_of_the_two() -> None:
    c = _crs(crs_condition(2, 3, 9), crs_grade(1, 2), crs_grade(2, 4))
    assert (c.onset_day, c.sources["onset"]) == (2, "observation")


def test_conflicting_grades_take_the_higher_and_say_so() -> None:
    # daily grades reach 3 while the Condition codes 2: max 3, peak from the daily grades
    up = _crs(crs_condition(2, 3, 9), crs_grade(1, 2), crs_grade(3, 4), crs_grade(0, 6))
    assert (up.max_grade, up.peak_day, up.onset_day, up.condition_max_grade) == (3, 4, 2, 2)
    assert up.conflicts and "grade 2" in up.conflicts[0] and "reach 3" in up.conflicts[0]
    # the Condition codes 3 while daily grades top at 2: a coded grade 3 is not lowered; the peak is its onset
    down = _crs(crs_condition(3, 5, 9), crs_grade(1, 4), crs_grade(2, 6))
    assert (down.max_grade, down.peak_day, down.sources["peak"], down.sources["max_grade"]) == (
        3,
        5,
        "condition",
        "condition",
    )
    assert down.conflicts


def test_grades_after_the_abatement_move_recovery_to_the_daily_grades() -> None:
    c = _crs(crs_condition(2, 3, 6), crs_grade(2, 3), crs_grade(1, 7), crs_grade(0, 9))
    assert (c.recovery_day, c.sources["recovery"]) == (9, "observation")
    assert any("after the Conditions' abatement" in x for x in c.conflicts)
    open_grades = _crs(crs_condition(2, 3, 6), crs_grade(2, 3), crs_grade(1, 7))
    assert open_grades.recovery_day is None and open_grades.ongoing and "recovery" not in open_grades.sources


def test_an_open_episode_is_ongoing_whatever_the_daily_grades_say() -> None:
    c = _crs(crs_condition(2, 3), crs_grade(2, 3), crs_grade(0, 6))
    assert c.recovery_day is None and c.ongoing
    assert any("has not abated" in x for x in c.conflicts)


def test_an_unspecified_condition_is_graded_by_the_daily_grades() -> None:
    c = _crs(crs_condition(None, 3, 8), crs_grade(1, 3), crs_grade(2, 4))
    assert (c.max_grade, c.peak_day, c.recovery_day, c.condition_max_grade) == (2, 4, 8, None)
    assert c.conflicts == ()


# ---- daily grade Observations ------------------------------------------------------------------------------------


def test_observation_timeline() -> None:
    c = _crs(crs_grade(0, 1), crs_grade(1, 2), crs_grade(2, 3), crs_grade(3, 5), crs_grade(3, 6), crs_grade(1, 7))
    assert (c.source, c.max_grade, c.onset_day, c.peak_day, c.recovery_day) == ("observation", 3, 2, 5, None)
    assert c.ongoing
    c = _crs(crs_grade(1, 2), crs_grade(2, 3), crs_grade(0, 5), crs_grade(0, 6))
    assert (c.recovery_day, c.ongoing) == (5, False)


def test_observation_relapse_recovery_after_the_last_positive_day() -> None:
    c = _crs(crs_grade(1, 2), crs_grade(0, 3), crs_grade(2, 5), crs_grade(0, 8))
    assert (c.onset_day, c.peak_day, c.recovery_day) == (2, 5, 8)


def test_observation_same_day_takes_the_highest_grade() -> None:
    c = _crs(crs_grade(1, 2), crs_grade(2, 2))
    assert (c.max_grade, c.peak_day) == (2, 2)


def test_observations_all_zero_mean_no_crs() -> None:
    c = _crs(crs_grade(0, 1), crs_grade(0, 3), obs("temperature", 39.0, 2))
    assert (c.source, c.max_grade, c.onset_day) == ("observation", 0, None)


def test_observation_as_of_cut() -> None:
    c = _crs(crs_grade(1, 2), crs_grade(3, 5), as_of_day=4)
    assert (c.max_grade, c.peak_day) == (1, 2)


# ---- fever-derived and none --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "fever"),
    [(38.0, "Cel", True), (37.9, "Cel", False), (38.5, "Cel", True), (100.4, "[degF]", True), (100.3, "[degF]", False)],
)
def test_fever_threshold(value: float, unit: str, fever: bool) -> None:
    c = _crs(obs("temperature", 37.0, 1), obs("temperature", value, 4, unit))
    if fever:
        assert (c.source, c.onset_day, c.max_grade, c.peak_day, c.recovery_day) == (
            "fever-derived",
            4,
            None,
            None,
            None,
        )
    else:
        assert (c.source, c.onset_day, c.max_grade) == ("none", None, 0)


def test_fever_before_day0_or_after_as_of_is_ignored() -> None:
    c = _crs(obs("temperature", 39.0, -1), obs("temperature", 39.0, 6), as_of_day=5)
    assert (c.source, c.onset_day) == ("none", None)
    c = _crs(obs("temperature", 39.0, -1), obs("temperature", 38.2, 0), obs("temperature", 39.0, 6))
    assert (c.source, c.onset_day) == ("fever-derived", 0)


def test_no_record_no_temperature_is_unknown() -> None:
    c = _crs()
    assert (c.source, c.max_grade, c.onset_day) == ("none", None, None)


def test_no_infusion_gives_nothing() -> None:
    c = crs_features(record_of(crs_condition(2, 3, 5)), day_date(5), default_profile().risk)
    assert (c.source, c.max_grade, c.onset_day) == ("none", None, None)


# ---- tocilizumab / corticosteroid --------------------------------------------------------------------------------


def test_tocilizumab_and_corticosteroid_from_day0_to_as_of() -> None:
    c = _crs(med(TOCILIZUMAB, 3), med(DEXAMETHASONE, 6), as_of_day=5)
    assert (c.tocilizumab, c.corticosteroid) == (True, False)
    c = _crs(med(DEXAMETHASONE, -3), med(DEXAMETHASONE, 6), as_of_day=6)
    assert (c.tocilizumab, c.corticosteroid) == (False, True)
    c = _crs(med(DEXAMETHASONE, -3), as_of_day=6)  # pre-infusion steroid is not CRS treatment
    assert c.corticosteroid is False


def test_crs_json_shape() -> None:
    out = _crs(crs_condition(2, 3, 9), med(TOCILIZUMAB, 4)).to_json()
    assert out == {
        "max_grade": 2,
        "onset_day": 3,
        "peak_day": 3,
        "recovery_day": 9,
        "source": "condition",
        "sources": {"max_grade": "condition", "onset": "condition", "peak": "condition", "recovery": "condition"},
        "tocilizumab": True,
        "corticosteroid": False,
    }


# ---- clinicalStatus without an abatement date ----------------------------------------------------------------


def _status(res: Json, code: str) -> Json:
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    return res | {"clinicalStatus": {"coding": [{"system": system, "code": code}]}}


@pytest.mark.parametrize("code", ["resolved", "inactive", "remission"])
def test_a_condition_marked_over_without_a_date_is_not_active(code: str) -> None:
    c = _crs(_status(crs_condition(3, 4, None), code))
    assert not c.ongoing and c.resolved_undated
    assert c.recovery_day is None, "the day it recovered was not written: unknown, never guessed"
    assert c.to_json()["resolved_without_date"] is True


@pytest.mark.parametrize("code", ["active", "recurrence", "relapse"])
def test_a_condition_still_active_by_status_stays_ongoing(code: str) -> None:
    c = _crs(_status(crs_condition(3, 4, None), code))
    assert c.ongoing and not c.resolved_undated and "resolved_without_date" not in c.to_json()


def test_one_episode_still_open_keeps_crs_active() -> None:
    c = _crs(_status(crs_condition(2, 3, None), "resolved"), crs_condition(3, 6, None))
    assert c.ongoing and not c.resolved_undated


def test_a_dated_abatement_after_as_of_is_not_overridden_by_todays_status() -> None:
    c = _crs(_status(crs_condition(2, 3, 9), "resolved"), as_of_day=8)
    assert c.ongoing and c.recovery_day is None and not c.resolved_undated


def test_daily_grades_date_the_recovery_of_a_condition_marked_over() -> None:
    c = _crs(_status(crs_condition(2, 3, None), "resolved"), crs_grade(2, 3), crs_grade(1, 4), crs_grade(0, 5))
    assert c.recovery_day == 5 and not c.ongoing and not c.conflicts
