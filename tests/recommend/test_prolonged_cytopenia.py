"""`prolonged-cytopenia-evaluation` (clinical-reference.md §8): past day +28 (prolonged_cytopenia.after_day) to day
+100, a fresh ANC < 0.5, a fresh PLT < 20, transfusion dependence (≥ 2 transfusions of one product after day +28
within 14 days), or late ICAHT ≥ 3 prompt an evaluation and name the consensus options with their evidence —
never an order."""

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
    infusion,
    obs,
    patient,
    transfusion,
)


def evaluation(a: Assessment) -> Recommendation | None:
    return next((r for r in a.recommendations if r.code == "prolonged-cytopenia-evaluation"), None)


@pytest.mark.parametrize(("day", "fires"), [(28, False), (29, True), (100, True), (101, False)])
def test_past_day_28_to_day_100(day: int, fires: bool) -> None:
    a = run(patient(), infusion(), obs("neutrophils", 0.3, "10*9/L", day=day), as_of_day=day)
    assert (evaluation(a) is not None) is fires


@pytest.mark.parametrize(("value", "fires"), [(0.49, True), (0.5, False)])
def test_anc_below_0_5(value: float, fires: bool) -> None:
    a = run(patient(), infusion(), obs("neutrophils", value, "10*9/L", day=35), as_of_day=35)
    assert (evaluation(a) is not None) is fires


@pytest.mark.parametrize(("value", "fires"), [(19, True), (20, False)])
def test_platelets_below_20(value: float, fires: bool) -> None:
    a = run(patient(), infusion(), obs("platelets", value, "10*9/L", day=35), as_of_day=35)
    assert (evaluation(a) is not None) is fires


@pytest.mark.parametrize(("as_of_day", "fires"), [(38, True), (39, False)])
def test_only_on_fresh_results(as_of_day: int, fires: bool) -> None:
    a = run(patient(), infusion(), obs("platelets", 12, "10*9/L", day=35), as_of_day=as_of_day)
    assert (evaluation(a) is not None) is fires


def test_a_value_on_day_28_itself_does_not_persist_past_it() -> None:
    a = run(patient(), infusion(), obs("platelets", 12, "10*9/L", day=28), as_of_day=29)
    assert evaluation(a) is None


def test_thrombocytopenia_names_the_tpo_receptor_agonists_with_their_evidence() -> None:
    a = run(patient(), infusion(), obs("platelets", 12, "10*9/L", day=35), as_of_day=35)
    rec = evaluation(a)
    assert rec is not None and rec.urgency == "warning"
    assert "bone marrow" in rec.text and "infection" in rec.text and "myelotoxic drugs" in rec.text
    assert "eltrombopag, romiplostim" in rec.text
    assert (
        "level of evidence: observational (GETH-TC registry: 76% platelet-transfusion independence, median 32 days)"
        in rec.text
    )
    assert "CD34+" not in rec.text  # the neutropenia option is not offered for thrombocytopenia alone
    assert "not an order" in rec.text
    assert draft_for(rec, a, default_profile()) is None  # an evaluation, never a draft order


def test_neutropenia_names_the_cd34_boost_with_its_evidence() -> None:
    a = run(patient(), infusion(), obs("neutrophils", 0.3, "10*9/L", day=35), as_of_day=35)
    rec = evaluation(a)
    assert rec is not None
    assert "CD34+ stem-cell boost where stored cells are available" in rec.text
    assert "Gagelmann et al., Blood Adv 2023;7:555" in rec.text and "84% responded" in rec.text
    assert "eltrombopag" not in rec.text


def platelets_on(*days: int, product: tuple[str, str] = PLATELET_TRANSFUSION) -> list[Json]:
    return [transfusion(product, d) for d in days]


@pytest.mark.parametrize(
    ("days", "as_of_day", "fires"),
    [
        ((37, 50), 50, True),  # day 37 is the 14th day back from day 50
        ((36, 50), 50, False),  # day 36 is outside the 14 days
        ((28, 33), 35, False),  # day 28 is not past day 28
        ((29, 33), 35, True),
        ((33,), 35, False),  # one transfusion is no dependence
    ],
)
def test_transfusion_dependence(days: tuple[int, ...], as_of_day: int, fires: bool) -> None:
    a = run(
        patient(), infusion(), obs("platelets", 35, "10*9/L", day=as_of_day), platelets_on(*days), as_of_day=as_of_day
    )
    rec = evaluation(a)
    assert (rec is not None) is fires
    if rec is not None:
        assert f"{len(days)} platelet transfusions in the last 14 days" in rec.text and "eltrombopag" in rec.text


@pytest.mark.parametrize(("product", "fires"), [(RBC_TRANSFUSION, True), (BLOOD_PRODUCT, True)])
def test_red_cell_dependence_prompts_the_work_up(product: tuple[str, str], fires: bool) -> None:
    a = run(
        patient(), infusion(), obs("hemoglobin", 85, "g/L", day=40), platelets_on(32, 39, product=product), as_of_day=40
    )
    rec = evaluation(a)
    assert (rec is not None) is fires
    assert rec is not None and "red-cell transfusions" in rec.text


def test_the_dependence_definition_is_site_data() -> None:
    three = load_profile(site={"thresholds": {"prolonged_cytopenia": {"dependence_transfusions": 3}}})
    resources: list[Json | list[Json]] = [
        patient(),
        infusion(),
        obs("platelets", 35, "10*9/L", day=40),
        platelets_on(32, 39),
    ]
    assert evaluation(run(*resources, as_of_day=40)) is not None
    assert evaluation(run(*resources, as_of_day=40, profile=three)) is None


def test_late_icaht_grade_3_prompts_the_evaluation() -> None:
    # ANC ≤ 0.5 on two results after day 30 (late ICAHT 3), then 0.8 today (not < 0.5)
    anc = [obs("neutrophils", v, "10*9/L", day=d) for d, v in ((40, 0.4), (44, 0.45), (50, 0.8))]
    a = run(patient(), infusion(), anc, as_of_day=50)
    rec = evaluation(a)
    assert rec is not None and "late ICAHT grade 3" in rec.text and "CD34+" in rec.text


@pytest.mark.parametrize(
    ("today", "as_of_day", "fires"),
    [
        (1.5, 50, True),  # at late ICAHT's grade 1 line: still in its range
        (1.6, 50, False),  # above it: recovered, late ICAHT alone no longer "persists"
        (9.3, 50, False),
        (0.8, 54, True),  # stale but in range: nothing shows recovery (counts-overdue asks for a count beside it)
        (9.3, 54, False),  # stale and recovered
    ],
)
def test_late_icaht_persists_only_while_the_latest_anc_is_in_its_range(
    today: float, as_of_day: int, fires: bool
) -> None:
    # clinical-reference §4: late ICAHT grades the lowest ANC since day 30; §8: options "for persistent cases"
    anc = [obs("neutrophils", v, "10*9/L", day=d) for d, v in ((40, 0.4), (44, 0.45), (50, today))]
    rec = evaluation(run(patient(), infusion(), anc, as_of_day=as_of_day))
    assert (rec is not None) is fires
