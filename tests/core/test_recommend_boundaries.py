"""The recommendation rules of recommend.py at their boundaries: freshness, G-CSF already given, severe cytopenia
after day 21, the day-100 end of extended monitoring, and the data-quality card."""

from __future__ import annotations

import pytest

from cds_cyto.core.profile import ProfileError, load_profile
from tests.core.harness import run
from tests.support.fhir import ATC, FILGRASTIM, infusion, med_admin, obs, patient

GCSF = (ATC, "L03AA02")


def codes(a: object) -> list[str]:
    return [r.code for r in a.recommendations]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("result_day", "as_of_day", "fires"), [(7, 7, True), (7, 10, True), (7, 11, False)])
def test_treatment_advice_needs_a_fresh_value(result_day: int, as_of_day: int, fires: bool) -> None:
    # freshness.max_age_days = 3: a count older than that does not describe today's patient
    a = run(patient(), infusion(), obs("neutrophils", 0.3, "10*9/L", day=result_day), as_of_day=as_of_day)
    assert ("gcsf-therapeutic" in codes(a)) is fires


def test_no_treatment_advice_before_infusion() -> None:
    a = run(patient(), infusion(day=0), obs("platelets", 10, "10*9/L", day=-2), as_of_day=-1)
    assert "platelet-transfusion" not in codes(a)


@pytest.mark.parametrize(("gcsf_day", "urgency"), [(5, "warning"), (6, "info"), (7, "info")])
def test_gcsf_given_today_or_yesterday_turns_the_card_to_info(gcsf_day: int, urgency: str) -> None:
    # daily filgrastim runs while its last dose is at most gcsf_recent.days (1) old
    a = run(patient(), infusion(), med_admin(GCSF, gcsf_day), obs("neutrophils", 0.3, "10*9/L", day=7), as_of_day=7)
    (card,) = [r for r in a.recommendations if r.code == "gcsf-therapeutic"]
    assert card.urgency == urgency


@pytest.mark.parametrize(("day", "fires"), [(21, False), (22, True)])
def test_severe_cytopenia_after_day_21_extends_monitoring(day: int, fires: bool) -> None:
    a = run(patient(), infusion(), obs("platelets", 150, "10*9/L", day=-3), obs("platelets", 15, "10*9/L", day=day))
    assert ("extended-monitoring" in codes(a)) is fires


@pytest.mark.parametrize(("as_of_day", "fires"), [(100, True), (101, False)])
def test_extended_monitoring_ends_after_day_100(as_of_day: int, fires: bool) -> None:
    a = run(
        patient(),
        infusion(),
        obs("hemoglobin", 120, "g/L", day=-3),
        obs("hemoglobin", 55, "g/L", day=28),
        obs("hemoglobin", 55, "g/L", day=as_of_day),  # severe anemia after day 21 (a PLT < 20 would be evaluated)
        as_of_day=as_of_day,
    )
    assert ("extended-monitoring" in codes(a)) is fires


def test_data_quality_card_lists_what_was_not_used() -> None:
    a = run(patient(), infusion(), obs("neutrophils", 0.3, "furlongs", day=5))
    (card,) = [r for r in a.recommendations if r.code == "data-quality"]
    assert "unit-unknown" in card.summary
    assert card.evidence[0].source is not None and card.evidence[0].source.startswith("Observation/")
    assert "gcsf-therapeutic" not in codes(a)  # an ungradable value never triggers treatment advice


# The data-quality card covers results dated within `data_quality.lookback_days` (30) before as_of, and undated ones.
@pytest.mark.parametrize(("problem_day", "fires"), [(39, True), (40, True), (41, True), (9, False), (10, True)])
def test_data_quality_lookback_boundary(problem_day: int, fires: bool) -> None:
    a = run(
        patient(),
        infusion(),
        obs("neutrophils", 0.3, "furlongs", day=problem_day),
        obs("neutrophils", 2.0, "10*9/L", day=40),
        as_of_day=40,
    )
    assert ("data-quality" in codes(a)) is fires  # day 10 is as_of − 30: still in; day 9 is one day out
    assert "unit-unknown" in [p.code for p in a.data_problems]  # the Assessment keeps every problem


def test_an_undated_problem_always_counts_and_the_window_is_site_data() -> None:
    undated = obs("neutrophils", 0.3, "10*9/L", day=1)
    undated["effectiveDateTime"] = "sometime"
    a = run(patient(), infusion(), undated, obs("neutrophils", 2.0, "10*9/L", day=90), as_of_day=90)
    assert "data-quality" in codes(a)
    old = obs("neutrophils", 0.3, "furlongs", day=20)
    late = [patient(), infusion(), old, obs("neutrophils", 2.0, "10*9/L", day=90)]
    assert "data-quality" not in codes(run(*late, as_of_day=90))
    wide = load_profile(site={"thresholds": {"data_quality": {"lookback_days": 90}}})
    assert "data-quality" in codes(run(*late, as_of_day=90, profile=wide))


def test_g_csf_evidence_names_the_drug() -> None:
    a = run(patient(), infusion(), med_admin(FILGRASTIM, 6), obs("neutrophils", 0.3, "10*9/L", day=7), as_of_day=7)
    (card,) = [r for r in a.recommendations if r.code == "gcsf-therapeutic"]
    assert [e.value for e in card.evidence if e.label == "G-CSF given"] == ["filgrastim (ATC L03AA02)"]


@pytest.mark.parametrize("value", [-1, 2.5, "30", True])
def test_a_data_quality_window_that_is_no_day_count_is_refused(value: object) -> None:
    with pytest.raises(ProfileError, match="lookback_days"):
        load_profile(site={"thresholds": {"data_quality": {"lookback_days": value}}})


def test_a_site_names_its_own_g_csf_product() -> None:
    product = ("http://www.nlm.nih.gov/research/umls/rxnorm", "999001")
    site = load_profile(
        site={
            "events": {"gcsf": {"extra_codes": ["|".join(product)]}},
            "code_names": {"|".join(product): "filgrastim (site product)"},
        }
    )
    a = run(
        patient(),
        infusion(),
        med_admin(product, 6),
        obs("neutrophils", 0.3, "10*9/L", day=7),
        as_of_day=7,
        profile=site,
    )
    (card,) = [r for r in a.recommendations if r.code == "gcsf-therapeutic"]
    assert [e.value for e in card.evidence if e.label == "G-CSF given"] == ["filgrastim (site product) (RxNorm 999001)"]


def test_the_data_quality_window_survives_dates_in_year_one() -> None:
    """Found by hypothesis: a junk result dated 0001-01-01 made as_of year 1, and the window overflowed."""
    ancient = obs("neutrophils", 0.3, "furlongs", when="0001-01-02T08:00:00Z")
    a = run(patient(), infusion(), ancient, obs("neutrophils", 2.0, "10*9/L", when="0001-01-01T08:00:00Z"))
    assert a.as_of is not None and a.as_of.year == 1
    assert "data-quality" in codes(a)
    huge = load_profile(site={"thresholds": {"data_quality": {"lookback_days": 10**9}}})
    assert "data-quality" in codes(run(patient(), infusion(), ancient, profile=huge))


@pytest.mark.parametrize("urgent", ["hemoglobin", ["hb"], [1]])
def test_urgent_implausible_must_name_analytes(urgent: object) -> None:
    with pytest.raises(ProfileError, match="urgent_implausible"):
        load_profile(site={"thresholds": {"data_quality": {"urgent_implausible": urgent}}})


def test_a_site_can_make_an_implausible_platelet_count_urgent() -> None:
    profile = load_profile(site={"thresholds": {"data_quality": {"urgent_implausible": ["hemoglobin", "platelets"]}}})
    a = run(patient(), infusion(), obs("platelets", 45000, "10*9/L", day=5), profile=profile)
    (card,) = [r for r in a.recommendations if r.code == "data-quality"]
    assert card.urgency == "critical" and card.summary.startswith("Platelets 45000 ×10⁹/L is implausible")
    default = run(patient(), infusion(), obs("platelets", 45000, "10*9/L", day=5))
    assert [r.urgency for r in default.recommendations if r.code == "data-quality"] == ["warning"]
