"""`counts-overdue` (clinical-reference.md §8, fresh data): a severe or grade ≥ 3 ANC, Hb or PLT that is the latest
result but older than freshness.max_age_days (3), from day 0 to counts_overdue.until_day (100)."""

from __future__ import annotations

import pytest

from cds_cyto.cds.drafts import draft_for
from cds_cyto.core.assessment.recommendation import Recommendation
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.profile import default_profile, load_profile
from tests.core.harness import run
from tests.support.fhir import infusion, obs, patient


def overdue(a: Assessment) -> Recommendation | None:
    return next((r for r in a.recommendations if r.code == "counts-overdue"), None)


@pytest.mark.parametrize(("as_of_day", "fires"), [(5, False), (8, False), (9, True), (40, True)])
def test_fires_once_the_severe_value_is_older_than_the_freshness_window(as_of_day: int, fires: bool) -> None:
    a = run(patient(), infusion(), obs("neutrophils", 0.3, "10*9/L", day=5), as_of_day=as_of_day)
    assert (overdue(a) is not None) is fires


def test_the_card_names_the_value_its_day_and_its_age() -> None:
    a = run(patient(), infusion(), obs("neutrophils", 0.3, "10*9/L", day=5), as_of_day=11)
    rec = overdue(a)
    assert rec is not None and rec.urgency == "warning"
    assert rec.summary == "Last ANC 0.3 ×10⁹/L on day +5 (6 days ago), none since — repeat the count"
    assert "gcsf-therapeutic" not in [r.code for r in a.recommendations]  # no treatment advice on it
    assert draft_for(rec, a, default_profile()) is not None  # a single blood count


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "fires"),
    [
        ("neutrophils", 0.8, "10*9/L", True),  # grade ≥ 3 (seed 001: < 1.0), not severe
        ("neutrophils", 1.0, "10*9/L", False),
        ("hemoglobin", 79, "g/L", True),
        ("hemoglobin", 80, "g/L", False),
        ("platelets", 49, "10*9/L", True),
        ("platelets", 50, "10*9/L", False),
    ],
)
def test_severe_or_grade_3_values_only(analyte: str, value: float, unit: str, fires: bool) -> None:
    a = run(patient(), infusion(), obs(analyte, value, unit, day=10), as_of_day=20)
    assert (overdue(a) is not None) is fires


def test_a_newer_normal_count_clears_it() -> None:
    a = run(
        patient(),
        infusion(),
        obs("neutrophils", 0.3, "10*9/L", day=5),
        obs("neutrophils", 1.5, "10*9/L", day=8),
        as_of_day=15,
    )
    assert overdue(a) is None


@pytest.mark.parametrize(("as_of_day", "fires"), [(-1, False), (0, True), (100, True), (101, False)])
def test_only_in_follow_up_from_day_0_to_day_100(as_of_day: int, fires: bool) -> None:
    a = run(patient(), infusion(), obs("platelets", 15, "10*9/L", day=-10), as_of_day=as_of_day)
    assert (overdue(a) is not None) is fires


def test_the_follow_up_end_is_site_data() -> None:
    shorter = load_profile(site={"thresholds": {"counts_overdue": {"until_day": 60}}})
    resources = [patient(), infusion(), obs("platelets", 15, "10*9/L", day=40)]
    assert overdue(run(*resources, as_of_day=61)) is not None
    assert overdue(run(*resources, as_of_day=61, profile=shorter)) is None


def test_several_lineages_are_listed_in_one_card() -> None:
    a = run(
        patient(),
        infusion(),
        obs("neutrophils", 0.3, "10*9/L", day=5),
        obs("platelets", 15, "10*9/L", day=6),
        as_of_day=12,
    )
    rec = overdue(a)
    assert rec is not None
    assert rec.text.startswith("Last ANC 0.3 ×10⁹/L on day +5 (7 days ago), none since; last PLT 15 ×10⁹/L on day +6")
    assert rec.summary == "Last ANC 0.3 ×10⁹/L on day +5 (7 days ago), none since (+1 more) — repeat the count"
    assert len(rec.evidence) == 2


def test_its_draft_is_one_blood_count_as_valid_fhir_r4() -> None:
    from fhir.resources.R4B.servicerequest import ServiceRequest

    a = run(patient(), infusion(), obs("neutrophils", 0.3, "10*9/L", day=5), as_of_day=11)
    rec = overdue(a)
    assert rec is not None
    drafted = draft_for(rec, a, default_profile())
    assert drafted is not None
    label, resource = drafted
    ServiceRequest.model_validate(resource)
    assert label == "Draft order: blood count with differential"
    assert resource["status"] == "draft" and resource["intent"] == "proposal" and "occurrenceTiming" not in resource
