"""Already done (clinical-reference.md §8): a transfusion of the card's product after the triggering count, or
started at most `transfusion_given.rbc_lookback_hours` (4: a unit runs for hours) or `lookback_hours` (1, platelets)
before it, turns the red-cell or platelet card into information that asks to re-check the count — never a second
critical prompt, never a draft for another unit. An unspecified blood product is not the matching product: the card
stays a warning and asks which product it was, with no draft."""

from __future__ import annotations

import pytest

from cds_cyto.cds.drafts import draft_for
from cds_cyto.core.assessment.recommendation import Recommendation
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.profile import default_profile, load_profile
from tests.core.harness import run
from tests.support.fhir import (
    BLOOD_PRODUCT,
    PLATELET_TRANSFUSION,
    RBC_TRANSFUSION,
    Json,
    at,
    infusion,
    obs,
    patient,
    transfusion,
)


def card(a: Assessment, code: str) -> Recommendation:
    (found,) = [r for r in a.recommendations if r.code == code]
    return found


def low_hb(time: str = "06:00:00", day: int = 8) -> Json:
    return obs("hemoglobin", 55, "g/L", when=at(day, time))


@pytest.mark.parametrize(
    ("given_at", "urgency"),
    [
        ("10:00:00", "info"),  # after the 06:00 Hb
        ("06:00:00", "info"),  # at the same minute
        ("05:00:00", "info"),  # 1 h before
        ("02:00:00", "info"),  # 4 h before: at the red-cell look-back's edge (a unit may still be running)
        (None, "info"),  # a date only, on the count's day: the order is unknown, it counts
    ],
)
def test_red_cells_given_after_or_just_before_the_hb_make_the_card_information(
    given_at: str | None, urgency: str
) -> None:
    a = run(patient(), infusion(), low_hb(), transfusion(RBC_TRANSFUSION, 8, given_at), as_of_day=8)
    rec = card(a, "rbc-transfusion")
    assert rec.urgency == urgency
    assert "re-check Hb before another unit" in rec.text and "re-check Hb" in rec.summary
    assert draft_for(rec, a, default_profile()) is None  # no second unit offered


def test_the_card_says_when_the_red_cells_were_given_after_which_hb() -> None:
    a = run(patient(), infusion(), low_hb(), transfusion(RBC_TRANSFUSION, 8, "10:00:00"), as_of_day=8)
    rec = card(a, "rbc-transfusion")
    assert "red cells given 10:00, after the 06:00 Hb; re-check Hb before another unit" in rec.text
    assert [e.label for e in rec.evidence] == ["Hemoglobin", "Transfusion given"]


@pytest.mark.parametrize(
    "given",
    [
        transfusion(RBC_TRANSFUSION, 8, "01:59:00"),  # 4 h 1 min before the 06:00 Hb: the Hb is post-transfusion
        transfusion(RBC_TRANSFUSION, 7, None),  # a date only, the day before
        transfusion(PLATELET_TRANSFUSION, 8, "10:00:00"),  # another product
        transfusion(RBC_TRANSFUSION, 9, "10:00:00"),  # after as_of (a replay of an earlier day)
    ],
)
def test_without_a_matching_transfusion_the_card_stays_critical(given: Json) -> None:
    a = run(patient(), infusion(), low_hb(), given, as_of_day=8)
    rec = card(a, "rbc-transfusion")
    assert rec.urgency == "critical" and "consider red-cell transfusion" in rec.summary
    assert draft_for(rec, a, default_profile()) is not None


def test_the_look_back_is_site_data() -> None:
    wider = load_profile(site={"thresholds": {"transfusion_given": {"rbc_lookback_hours": 12}}})
    resources = [patient(), infusion(), low_hb(), transfusion(RBC_TRANSFUSION, 7, "19:00:00")]
    assert card(run(*resources, as_of_day=8), "rbc-transfusion").urgency == "critical"
    assert card(run(*resources, as_of_day=8, profile=wider), "rbc-transfusion").urgency == "info"


@pytest.mark.parametrize(
    ("product", "given_at", "urgency"),
    [
        (PLATELET_TRANSFUSION, "09:15:00", "info"),
        (PLATELET_TRANSFUSION, "06:30:00", "info"),  # 1 h before the 07:30 PLT: the platelet look-back's edge
        (PLATELET_TRANSFUSION, "06:29:00", "critical"),  # 1 h 1 min before: the PLT is post-transfusion
        (BLOOD_PRODUCT, "09:15:00", "warning"),  # not the matching product (§8): which was it?
        (None, None, "critical"),
    ],
)
def test_platelets_follow_the_same_rule(product: tuple[str, str] | None, given_at: str | None, urgency: str) -> None:
    resources = [patient(), infusion(), obs("platelets", 12, "10*9/L", when=at(6, "07:30:00"))]
    if product is not None:
        resources.append(transfusion(product, 6, given_at))
    rec = card(run(*resources, as_of_day=6), "platelet-transfusion")
    assert rec.urgency == urgency
    if product == PLATELET_TRANSFUSION and given_at == "09:15:00":
        assert "platelets given 09:15, after the 07:30 PLT; re-check PLT before another unit" in rec.text


def test_a_new_low_count_after_the_transfusion_is_a_new_prompt() -> None:
    """Red cells at 10:00, and the Hb drawn after them is still below 60: that count has no transfusion after it."""
    a = run(
        patient(),
        infusion(),
        low_hb("06:00:00"),
        transfusion(RBC_TRANSFUSION, 8, "10:00:00"),
        obs("hemoglobin", 57, "g/L", when=at(8, "18:00:00")),
        as_of_day=8,
    )
    assert card(a, "rbc-transfusion").urgency == "critical"


@pytest.mark.parametrize("code", ["rbc-transfusion", "platelet-transfusion"])
def test_an_unspecified_blood_product_asks_which_it_was_and_silences_neither_card(code: str) -> None:
    low = [low_hb(), obs("platelets", 15, "10*9/L", when=at(8, "06:00:00"))]
    a = run(patient(), infusion(), *low, transfusion(BLOOD_PRODUCT, 8, "10:00:00"), as_of_day=8)
    rec = card(a, code)
    assert rec.urgency == "warning" and "check which product it was before another unit" in rec.text
    assert draft_for(rec, a, default_profile()) is None  # nothing drafted before the check


@pytest.mark.parametrize(("as_of_day", "said"), [(8, None), (9, "1 day ago"), (11, "3 days ago")])
def test_the_card_says_the_age_of_its_count(as_of_day: int, said: str | None) -> None:
    rec = card(run(patient(), infusion(), low_hb(), as_of_day=as_of_day), "rbc-transfusion")
    if said is None:
        assert "ago" not in rec.summary
    else:
        assert f"(day +8, {said})" in rec.summary and f"on day +8, {said}:" in rec.text
    assert "freshness.max_age_days" in rec.rule
