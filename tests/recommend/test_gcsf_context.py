"""The G-CSF cards name the current course from its first dose with the number of doses, and show active CRS
(clinical-reference.md §8); thresholds gcsf_recent.course_gap_days (3) bounds a course."""

from __future__ import annotations

import pytest

from cds_cyto.core.assessment.recommendation import Recommendation
from cds_cyto.core.assessment.result import Assessment
from tests.core.harness import run
from tests.support.fhir import (
    FILGRASTIM,
    Json,
    baseline_panel,
    crs_condition,
    crs_grade,
    infusion,
    med_admin,
    obs,
    patient,
)

HIGH_RISK = baseline_panel(plt=100.0, anc=1.0)  # CAR-HEMATOTOX 2


def card(a: Assessment, code: str) -> Recommendation:
    (found,) = [r for r in a.recommendations if r.code == code]
    return found


def doses(*days: int) -> list[Json]:
    return [med_admin(FILGRASTIM, d) for d in days]


def test_the_course_is_named_from_its_first_dose_with_the_number_of_doses() -> None:
    a = run(patient(), infusion(), doses(6, 7, 8, 9), obs("neutrophils", 0.3, "10*9/L", day=9), as_of_day=9)
    rec = card(a, "gcsf-therapeutic")
    assert "on filgrastim since day +6, 4 doses (last day +9)" in rec.text
    assert "since day +6" in rec.summary and rec.urgency == "info"
    assert [e.when for e in rec.evidence if e.label == "G-CSF given"] == [
        "2024-03-07",
        "2024-03-08",
        "2024-03-09",
        "2024-03-10",
    ]


@pytest.mark.parametrize(("first", "named_from"), [(2, "day +2, 2 doses"), (1, "day +5 (1 dose)")])
def test_a_gap_longer_than_the_course_gap_starts_a_new_course(first: int, named_from: str) -> None:
    # doses on `first` and day 5: 3 days apart is one course (course_gap_days = 3), 4 days apart is two
    a = run(patient(), infusion(), doses(first, 5), obs("neutrophils", 0.3, "10*9/L", day=6), as_of_day=6)
    assert named_from in card(a, "gcsf-therapeutic").text


def test_a_dose_after_as_of_is_not_part_of_the_course() -> None:
    a = run(patient(), infusion(), doses(6, 7, 8), obs("neutrophils", 0.3, "10*9/L", day=7), as_of_day=7)
    assert "since day +6, 2 doses (last day +7)" in card(a, "gcsf-therapeutic").text


def test_active_crs_is_shown_on_the_therapeutic_card() -> None:
    a = run(patient(), infusion(), crs_condition(2, 3), obs("neutrophils", 0.3, "10*9/L", day=7), as_of_day=7)
    rec = card(a, "gcsf-therapeutic")
    assert "Active grade 2 CRS since day +3, not recovered: weigh G-CSF during CRS per protocol." in rec.text
    assert [e.value for e in rec.evidence if e.label == "Active CRS"] == [
        "active grade 2 CRS since day +3, not recovered"
    ]


def test_recovered_crs_is_not_active() -> None:
    a = run(patient(), infusion(), crs_condition(2, 3, 6), obs("neutrophils", 0.3, "10*9/L", day=7), as_of_day=7)
    rec = card(a, "gcsf-therapeutic")
    assert "CRS" not in rec.text and "Active CRS" not in [e.label for e in rec.evidence]


def test_crs_marked_resolved_without_an_abatement_date_is_not_active() -> None:
    # Epic-style: the problem-list entry is set to "resolved" and no abatement date is written
    cond = crs_condition(3, 3) | {
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]
        }
    }
    a = run(patient(), infusion(), cond, obs("neutrophils", 0.3, "10*9/L", day=9), as_of_day=9)
    rec = card(a, "gcsf-therapeutic")
    assert "CRS" not in rec.text and "Active CRS" not in [e.label for e in rec.evidence]
    monitoring = card(a, "extended-monitoring")
    assert monitoring.urgency == "info", "no active grade 3 CRS with severe neutropenia to escalate it"
    assert "Active" not in monitoring.text


def test_active_crs_is_shown_on_the_prophylaxis_card() -> None:
    a = run(
        patient(), infusion(), HIGH_RISK, crs_condition(1, 1), obs("neutrophils", 2.0, "10*9/L", day=3), as_of_day=3
    )
    rec = card(a, "gcsf-prophylaxis")
    assert "Active grade 1 CRS since day +1, not recovered" in rec.text


def test_a_crs_course_says_when_it_reached_its_grade() -> None:
    # charted daily grades: CRS from day 4, grade 3 from day 7 (the demo's syn-all-0038 course)
    grades = [crs_grade(g, d) for d, g in ((4, 1), (5, 2), (6, 2), (7, 3), (8, 3), (9, 3))]
    a = run(patient(), infusion(), grades, obs("neutrophils", 0.36, "10*9/L", day=9), as_of_day=9)
    rec = card(a, "gcsf-therapeutic")
    assert "Active CRS since day +4 (reached grade 3 on day +7), not recovered" in rec.text
    assert rec.urgency == "warning"  # active CRS ≥ grade 3 with severe neutropenia


def test_an_earlier_course_is_named_when_no_dose_is_recent() -> None:
    # filgrastim on days 1 and 2, none in the 3 days before day 9 (gcsf_recent.days): a new prompt, with the history
    a = run(patient(), infusion(), doses(1, 2), obs("neutrophils", 0.3, "10*9/L", day=9), as_of_day=9)
    rec = card(a, "gcsf-therapeutic")
    assert rec.urgency == "warning" and "consider therapeutic G-CSF" in rec.summary
    assert "Last G-CSF: filgrastim from day +1 to day +2, 2 doses, no longer running (gcsf_recent)." in rec.text
    assert [e.label for e in rec.evidence].count("G-CSF given earlier") == 2


def test_mobilisation_g_csf_before_infusion_is_not_named() -> None:
    a = run(patient(), infusion(), doses(-30, -29), obs("neutrophils", 0.3, "10*9/L", day=9), as_of_day=9)
    rec = card(a, "gcsf-therapeutic")
    assert "Last G-CSF" not in rec.text and "G-CSF given earlier" not in [e.label for e in rec.evidence]


@pytest.mark.parametrize(
    ("drug", "last_day", "as_of_day", "running"),
    [
        (FILGRASTIM, 8, 9, True),  # daily: yesterday's dose, the course runs
        (FILGRASTIM, 9, 9, True),
        (FILGRASTIM, 7, 9, False),  # two days without a dose: stopped, not "continue"
        (FILGRASTIM, 6, 9, False),
        (("http://www.whocc.no/atc", "L03AA13"), 2, 16, True),  # pegfilgrastim: 14 days after its dose
        (("http://www.whocc.no/atc", "L03AA13"), 2, 17, False),
    ],
)
def test_a_course_runs_while_its_last_dose_covers_today(
    drug: tuple[str, str], last_day: int, as_of_day: int, running: bool
) -> None:
    a = run(
        patient(),
        infusion(),
        med_admin(drug, last_day),
        obs("neutrophils", 0.3, "10*9/L", day=as_of_day),
        as_of_day=as_of_day,
    )
    rec = card(a, "gcsf-therapeutic")
    assert ("continue per protocol" in rec.text) is running, rec.text
    assert (rec.urgency == "info") is running


@pytest.mark.parametrize(("today_grade", "urgency"), [(1, "info"), (2, "info"), (3, "warning")])
def test_urgency_follows_todays_charted_crs_grade_not_the_peak(today_grade: int, urgency: str) -> None:
    # grade 3 charted on days 5 to 7, then today_grade on days 8 to 12; filgrastim running (info unless escalated)
    grades = [crs_grade(3, d) for d in (5, 6, 7)] + [crs_grade(today_grade, d) for d in range(8, 13)]
    a = run(patient(), infusion(), grades, doses(11, 12), obs("neutrophils", 0.3, "10*9/L", day=12), as_of_day=12)
    rec = card(a, "gcsf-therapeutic")
    assert rec.urgency == urgency, rec.rule
    if today_grade < 3:
        assert f"grade {today_grade} charted on day +12" in rec.text, rec.text
