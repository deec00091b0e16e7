"""The site model on cards (issue 8, What 6): which patients are scorable, the probability it gives, the refusals
of malformed artifacts, and the validation figures that always stand beside a probability."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_cyto.cds.cards import render_cards
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.profile import Profile, ProfileError, default_profile, load_profile
from cds_cyto.core.profile.site_model import SiteModel, SiteModelError, load_model, parse_model
from cds_cyto.core.risk import assess_risk
from cds_cyto.core.risk.site_score import SiteScore
from tests.risk.risk_fhir import (
    DEXAMETHASONE,
    FLUDARABINE,
    TOCILIZUMAB,
    baseline_labs,
    crs_condition,
    crs_grade,
    infusion,
    med,
    obs,
    record_of,
)
from tests.support.fhir import Json, day_date
from tests.support.site_model import artifact_doc

LD = -5
BASE = baseline_labs(LD - 1, plt=150.0, anc=1.5, hb=100.0)
# ln(ANC), ln(Hb), ln(PLT), CRS grade, CRS recovery day
COEF = {
    "baseline_neutrophils": -0.8,
    "baseline_hemoglobin": -0.5,
    "baseline_platelets": -0.3,
    "crs_grade": 0.9,
    "crs_recovery_day": 0.12,
}
INTERCEPT = 2.0
RANGES = {
    "baseline_neutrophils": (0.1, 8.0),
    "baseline_hemoglobin": (60.0, 170.0),
    "baseline_platelets": (10.0, 400.0),
    "crs_grade": (0.0, 4.0),
    "crs_recovery_day": (0.0, 30.0),
}


def model_doc(
    coefficients: dict[str, float] | None = None,
    *,
    ranges: dict[str, tuple[float, float]] | None = None,
    **given: Any,
) -> Json:
    """The test model (COEF, INTERCEPT, RANGES) unless told otherwise."""
    coefficients = COEF if coefficients is None else coefficients
    return artifact_doc(coefficients, intercept=INTERCEPT, ranges={**RANGES, **(ranges or {})}, **given)


def profile_with(doc: Json | None = None, **site: Any) -> Profile:
    """A profile with the model; the site declares its patients in the model's population unless `site` says."""
    site = site or {"thresholds": {"site_model": {"unknown_disease_in_population": True}}}
    profile = load_profile(site=site)
    from dataclasses import replace

    return replace(profile, site_model=parse_model(doc or model_doc()))


def expected(anc: float, hb: float, plt: float, grade: float, recovery: float) -> float:
    eta = (
        INTERCEPT
        + COEF["baseline_neutrophils"] * math.log(anc)
        + COEF["baseline_hemoglobin"] * math.log(hb)
        + COEF["baseline_platelets"] * math.log(plt)
        + COEF["crs_grade"] * grade
        + COEF["crs_recovery_day"] * recovery
    )
    return 1 / (1 + math.exp(-eta))


def score(
    *resources: Json | list[Json], day: int, profile: Profile | None = None, disease: str | None = None
) -> SiteScore:
    record = record_of(infusion(), med(FLUDARABINE, LD), *resources)
    risk = assess_risk(record, day_date(day), profile or profile_with(), disease)
    assert risk.site_score is not None
    return risk.site_score


RESOLVED: Json = {"clinicalStatus": {"coding": [{"code": "resolved"}]}}


def temps(*days: int, value: float = 37.0) -> list[Json]:
    return [obs("temperature", value, d) for d in days]


# ---- when a patient is scorable ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "day", "scored", "why"),
    [
        # recorded CRS: read on the day +14 landmark; complete when every episode has abated by then
        ([crs_condition(2, 2)], 15, False, "CRS from day +2 had not abated by the day +14 landmark"),
        ([crs_condition(2, 2, 6)], 15, True, None),
        ([crs_condition(2, 2) | RESOLVED], 15, False, "marked resolved without an abatement date"),  # day unknown
        ([crs_condition(2, 2, 6)], 14, True, None),
        ([crs_condition(2, 2, 6)], 13, False, "scored from its day +14 landmark"),
        ([crs_condition(2, 2, 16)], 20, False, "had not abated by the day +14 landmark"),  # abated after it: never
        ([crs_condition(2, 2, 6), crs_condition(3, 8)], 15, False, "CRS from day +2 had not abated"),  # second, open
        ([crs_condition(2, 2, 6), crs_condition(3, 16)], 20, True, None),  # an episode after the landmark: not read
        ([crs_condition(1, 2, 4), crs_condition(3, None)], 15, False, "without an onset date"),  # undated episode
        ([crs_condition(None, 2, 6)], 15, False, "without a grade"),  # D89.839
        ([crs_condition(2, None, 6)], 15, False, "without an onset date"),
        # an abated episode, then a sign of CRS that no episode covers
        ([crs_condition(1, 1, 3), temps(10, value=39.5)], 15, False, "fever on day +10, outside the recorded CRS"),
        ([crs_condition(1, 1, 3), med(TOCILIZUMAB, 10)], 15, False, "tocilizumab or a corticosteroid on day +10"),
        # ... or before it: the recorded onset would be too late
        ([crs_condition(2, 5, 8), crs_grade(2, 2)], 15, False, "a daily CRS grade 2 on day +2"),
        ([crs_condition(2, 5, 8), temps(2, value=39.5)], 15, False, "fever on day +2, outside the recorded CRS"),
        ([crs_condition(2, 5, 8), med(TOCILIZUMAB, 3)], 15, False, "tocilizumab or a corticosteroid on day +3"),
        ([crs_condition(1, 1, 3), crs_condition(1, 10, 12), crs_grade(1, 6)], 15, False, "grade 1 on day +6"),  # gap
        ([crs_condition(1, 1, 3), crs_condition(1, 10, 12), crs_grade(1, 11)], 15, True, None),
        ([crs_condition(1, 1, 3), crs_condition(1, 10, 12), temps(6, value=38.6)], 15, False, "fever on day +6"),
        ([crs_condition(1, 1, 3), crs_grade(3, 12)], 15, False, "a daily CRS grade 3 on day +12"),
        ([crs_condition(1, 1, 3), crs_grade(1, 2)], 15, True, None),  # within the episode, at its grade
        ([crs_condition(1, 1, 3), temps(2, value=38.5)], 15, True, None),  # the episode's own fever
        # daily ASTCT grades
        ([crs_grade(1, 1), crs_grade(2, 2), crs_grade(0, 5)], 14, True, None),
        ([crs_grade(1, 1), crs_grade(2, 2)], 15, False, "had not abated by the day +14 landmark"),
        ([crs_grade(2, 1), crs_grade(0, 2), temps(10, value=39.5)], 15, False, "fever on day +10, outside"),
        # no CRS: temperatures or grades charted into the second week (from day +7), no fever, no CRS treatment
        ([temps(1, 8)], 13, False, "scored from its day +14 landmark"),
        ([temps(1, 8)], 14, True, None),
        ([temps(1, 7)], 14, True, None),
        ([temps(1, 6)], 14, False, "no temperature or CRS grade charted from day +7"),
        ([temps(0)], 20, False, "'no CRS' is not established"),
        ([[crs_grade(0, 1), crs_grade(0, 9)]], 14, True, None),
        ([[crs_grade(0, 1)], temps(5, value=39.5), temps(9)], 14, False, "fever on day +5 while no CRS grade"),
        ([temps(1, 9), med(TOCILIZUMAB, 3)], 14, False, "tocilizumab or a corticosteroid given while no CRS"),
        ([temps(1, 9), temps(16, value=39.0)], 20, True, None),  # a fever after the landmark is not read
        ([], 20, False, "whether CRS occurred is unknown"),  # no CRS record, no temperatures
        ([temps(3, value=38.4)], 20, False, "fever from day +3"),
        # the day window: from the landmark to the day before the outcome's day (28)
        ([crs_condition(1, 1, 3)], 27, True, None),
        ([crs_condition(1, 1, 3)], 28, False, "the outcome (day +28) is now observed"),
        ([crs_condition(1, 1, 3)], 40, False, "now observed"),
    ],
)
def test_scorable_only_on_final_inputs(resources: list[Any], day: int, scored: bool, why: str | None) -> None:
    s = score(BASE, *resources, day=day)
    assert s.scored is scored, s.reasons
    if why is None:
        assert s.reasons == ()
    else:
        assert any(why in r for r in s.reasons), s.reasons


def test_the_landmark_is_the_models_and_its_inputs_do_not_move_after_it() -> None:
    early = profile_with(model_doc(landmark_day=7))
    assert not score(BASE, temps(1, 7), day=6, profile=early, disease="ALL").scored
    assert score(BASE, temps(1, 7), day=7, profile=early, disease="ALL").scored
    # a steroid on day +18 and a ferritin peak on day +20 are after the landmark: the day-20 score is the day-14 one
    p = profile_with(model_doc({"toci_or_steroid": 0.7, "max_lg_ferritin": 0.5}, ranges={"max_lg_ferritin": (0, 6)}))
    before: list[Json | list[Json]] = [BASE, crs_condition(2, 2, 6), obs("ferritin", 800.0, 5)]
    later: list[Json | list[Json]] = [*before, med(DEXAMETHASONE, 18), obs("ferritin", 20000.0, 20)]
    on14 = score(*before, day=14, profile=p)
    on20 = score(*later, day=20, profile=p)
    assert on14.scored and on14.probability == on20.probability
    assert {i.name: i.value for i in on20.inputs}["toci_or_steroid"] == 0.0


def test_a_fitted_model_is_scored_with_its_own_rule_not_the_sites() -> None:
    """The site moving its landmark (for the next `analyze`) must not change how an already fitted model reads."""
    site = {"thresholds": {"site_model": {"landmark_day": 10, "no_crs_reading_from_day": 0}}}
    p = profile_with(**site)  # the model says 14 and 7
    s = score(BASE, crs_condition(1, 1, 3), day=11, profile=p, disease="ALL")
    assert not s.scored and "scored from its day +14 landmark" in s.reasons[0]
    s = score(BASE, temps(0), day=20, profile=p, disease="ALL")
    assert not s.scored and "no temperature or CRS grade charted from day +7" in s.reasons[0]


@pytest.mark.parametrize("key", ["landmark_day", "no_crs_reading_from_day"])
@pytest.mark.parametrize("bad", [-1, 1.5, "14", True, 400])
def test_site_model_days_must_be_whole_days(key: str, bad: Any) -> None:
    with pytest.raises(ProfileError, match=key):
        load_profile(site={"thresholds": {"site_model": {key: bad}}})


def test_before_infusion_and_without_infusion() -> None:
    baseline_only = profile_with(model_doc({"baseline_neutrophils": -0.8}))
    assert score(BASE, day=0, profile=baseline_only).scored  # no CRS input: scored from day 0
    s = score(BASE, day=-1, profile=baseline_only)
    assert not s.scored and s.reasons[0] == "day -1: the model is scored from day 0"
    risk = assess_risk(record_of(*BASE), day_date(3), baseline_only)
    assert risk.site_score is not None and "no CAR-T infusion" in risk.site_score.reasons[0]
    assert not score(BASE, crs_condition(1, 1, 3), day=13).scored  # a CRS input: scored from the landmark


def test_probability_is_the_models_arithmetic() -> None:
    s = score(BASE, crs_condition(2, 2, 6), day=15)
    assert s.probability == pytest.approx(expected(1.5, 100.0, 150.0, 2, 6))
    no_crs = score(BASE, temps(1, 8), day=14)
    assert no_crs.probability == pytest.approx(expected(1.5, 100.0, 150.0, 0, 0))
    values = {i.name: i.value for i in no_crs.inputs}
    assert values["crs_grade"] == 0 and values["crs_recovery_day"] == 0


@pytest.mark.parametrize(
    ("plt", "scored"), [(10.0, True), (9.99, False), (400.0, True), (400.01, False), (150.0, True)]
)
def test_training_range_boundaries(plt: float, scored: bool) -> None:
    s = score(baseline_labs(LD - 1, plt=plt, anc=1.5, hb=100.0), crs_condition(1, 1, 3), day=15)
    assert s.scored is scored
    if not scored:
        assert "outside the range the model was fitted on (10–400)" in s.reasons[0]


def test_missing_baseline_says_which() -> None:
    s = score(baseline_labs(LD - 1, plt=150.0, anc=None, hb=100.0), crs_condition(1, 1, 3), day=15)
    assert not s.scored
    assert s.reasons == ("baseline_neutrophils: no neutrophils in the baseline window",)


def test_one_reason_for_all_crs_inputs() -> None:
    s = score(BASE, crs_condition(2, 2), day=15)
    assert len(s.reasons) == 1 and s.reasons[0].startswith("crs_grade, crs_recovery_day: CRS from day +2 had not")


@pytest.mark.parametrize(
    ("population", "disease", "scored"),
    [
        ("nhl", "NHL", True),
        ("nhl", None, True),  # the hook does not know the disease: the population is on the card, with a caution
        ("nhl", "ALL", False),
        ("all", "ALL", True),  # "all" is B-ALL (`cds-cyto analyze --disease all`), not "every disease"
        ("all", "NHL", False),
        ("all", "MM", False),
    ],
)
def test_population(population: str, disease: str | None, scored: bool) -> None:
    p = profile_with(model_doc(population=population))
    s = score(BASE, crs_condition(1, 1, 3), day=15, profile=p, disease=disease)
    assert s.scored is scored
    name = {"all": "B-ALL", "nhl": "B-NHL"}[population]
    if not scored:
        assert s.reasons == (f"the model was fitted on {name} patients; this patient's disease is {disease}",)
    unknown = (
        f"the patient's disease is not recorded here: scored because the site declares every patient it serves "
        f"{name} (thresholds site_model.unknown_disease_in_population)"
    )
    assert (unknown in s.cautions) is (disease is None)


def test_unknown_disease_is_not_scored_unless_the_site_says_so() -> None:
    p = profile_with(thresholds={"site_model": {"unknown_disease_in_population": False}})
    assert default_profile().thresholds["site_model"]["unknown_disease_in_population"] is False
    s = score(BASE, crs_condition(1, 1, 3), day=15, profile=p)
    assert not s.scored
    assert s.reasons == (
        "the patient's disease is not known here and the model applies to B-ALL only "
        "(thresholds site_model.unknown_disease_in_population)",
    )
    assert s.cautions == (), "no 'scored because the site declares' caution on a patient it refused"
    assert score(BASE, crs_condition(1, 1, 3), day=15, profile=p, disease="ALL").scored
    with pytest.raises(ProfileError, match="unknown_disease_in_population"):
        load_profile(site={"thresholds": {"site_model": {"unknown_disease_in_population": "yes"}}})


def test_cautions() -> None:
    weak = profile_with(model_doc(validation={"auc_cv_ci95": [0.5, 0.8]}, events=30))
    s = score(BASE, crs_condition(1, 1, 3), day=15, profile=weak)
    assert any("not shown to be better than chance" in c for c in s.cautions)
    assert any("6.0 events per feature" in c for c in s.cautions)
    assert score(BASE, crs_condition(1, 1, 3), day=15, disease="ALL").cautions == ()


def test_marker_and_treatment_inputs() -> None:
    p = profile_with(model_doc({"max_lg_ferritin": 0.5, "toci_or_steroid": 0.7}, ranges={"max_lg_ferritin": (0, 6)}))
    rs: list[Json | list[Json]] = [BASE, crs_condition(2, 2, 6), med(TOCILIZUMAB, 3), obs("ferritin", 1000.0, 4)]
    s = score(*rs, day=15, profile=p)
    assert {i.name: i.value for i in s.inputs} == {"max_lg_ferritin": pytest.approx(3.0), "toci_or_steroid": 1.0}
    assert not score(BASE, crs_condition(2, 2, 6), day=15, profile=p).scored  # no ferritin after day 0


# ---- the artifact --------------------------------------------------------------------------------------------------


def _without(doc: Json, *path: str) -> Json:
    d: Json = json.loads(json.dumps(doc))
    node = d
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return d


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (_without(model_doc(), "validation", "auc_cv"), "validation figures missing"),
        (_without(model_doc(), "validation", "auc_cv_ci95"), "validation figures missing"),
        (_without(model_doc(), "validation", "calibration_slope"), "validation figures missing"),
        (_without(model_doc(), "validation", "calibration_intercept"), "validation figures missing"),
        (_without(model_doc(), "validation"), "validation"),
        (model_doc(validation={"auc_cv_ci95": [0.8, 0.7]}), "around the AUC"),
        (model_doc(validation={"auc_cv_ci95": [0.5, 1.2]}), "within 0-1"),
        (model_doc(validation={"auc_cv": float("nan")}), "finite"),
        ({**model_doc(), "version": 1}, "re-run `cds-cyto analyze`"),
        ({**model_doc(), "format": "x"}, "not a cds-cyto/site-model"),
        (model_doc({"age": 1.0}), "unknown"),
        (model_doc(outcome="death"), "outcome"),
        (model_doc({"crs_grade": float("inf")}), "finite"),
        (model_doc(ranges={"crs_grade": (4.0, 0.0)}), "low above high"),
        ({**model_doc(), "features": []}, "features"),
        (_without(model_doc(), "population"), "malformed"),
        (model_doc(population="everyone"), "population"),
        ([], "not a cds-cyto/site-model"),
        (model_doc({"crs_grade": 10**400}), "not a finite number"),  # a JSON integer beyond float range
        (model_doc(validation={"auc_cv": 1.5}), "within 0-1"),
        (model_doc(events=301), "0 <= events <= n"),
        (_without(model_doc(), "landmark_day"), "malformed"),
        (_without(model_doc(), "no_crs_reading_from_day"), "malformed"),
        (model_doc(landmark_day=28), "landmark_day"),
        (model_doc(validation={"auc_cv": 0.9}), "around the AUC"),  # outside its own CI
        (model_doc(validation={"method": "x" * 1000}), "validation.method"),
        (model_doc(validation={"calibration_slope": 2**70}), "plausible"),
        ({**model_doc(), "training": {"n": 300, "events": 80, "seed": 2**70}}, "training.seed"),
        ({**model_doc(), "training": {"n": 300.5, "events": 80}}, "training.n"),
        ({**model_doc(), "created": ["2026"]}, "created"),
        ({**model_doc(), "outcome": {"name": "pht_seed000", "day": 27.5}}, "outcome.day"),
        ({**model_doc(), "outcome": {"name": "pht_seed000", "day": 0}}, "outcome.day"),
    ],
)
def test_artifact_refusals(doc: Any, match: str) -> None:
    with pytest.raises(SiteModelError, match=match):
        parse_model(doc)


@pytest.mark.parametrize(("index", "transform"), [(0, "sqrt"), (0, "identity"), (3, "ln")])
def test_a_transform_other_than_trainings_is_refused(index: int, transform: str) -> None:
    doc = model_doc()
    doc["features"][index]["transform"] = transform  # 0: baseline ANC (ln), 3: CRS grade (identity)
    with pytest.raises(SiteModelError, match="transform"):
        parse_model(doc)


def test_deep_nesting_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("[" * 200_000)
    with pytest.raises(SiteModelError, match="cannot read"):
        load_model(path)


def test_a_non_finite_linear_predictor_is_not_scored() -> None:
    p = profile_with(model_doc({"crs_grade": 1e308, "crs_recovery_day": -1e308}))
    s = score(BASE, crs_condition(2, 2, 6), day=15, profile=p)
    assert s.probability is None and "no finite linear predictor" in s.reasons[0]


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    ),
    st.sampled_from(["features", "validation", "training", "outcome", "intercept", "population", "created"]),
)
def test_any_damage_is_a_site_model_error(junk: Any, key: str) -> None:
    doc = model_doc()
    doc[key] = junk
    try:
        m = parse_model(doc)
    except SiteModelError:
        return
    assert isinstance(m, SiteModel)


def test_load_model_records_the_file_hash(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model_doc()))
    import hashlib

    assert load_model(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    p = load_profile(site_model=path)
    assert p.versions["site_model"].startswith("2026-12-01 sha256:")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(site_model=tmp_path / "absent.json")
    path.write_text("{not json")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(site_model=path)


def test_predict_saturates_instead_of_overflowing() -> None:
    m = parse_model(model_doc({"crs_grade": 1000.0}))
    assert m.predict({"crs_grade": 4.0}) == 1.0
    m = parse_model(model_doc({"crs_grade": -1000.0}))
    assert m.predict({"crs_grade": 4.0}) == 0.0


# ---- on the card and in the Assessment JSON ------------------------------------------------------------------------


def _monitoring_patient(day: int, *crs: Json) -> Any:
    # CRS grade 3 makes the extended-monitoring card fire
    return record_of(infusion(), med(FLUDARABINE, LD), BASE, *crs, obs("neutrophils", 2.0, day))


def test_card_shows_probability_with_validation() -> None:
    a = evaluate(_monitoring_patient(15, crs_condition(3, 2, 6)), day_date(15), profile_with())
    card = next(
        c
        for c in render_cards(a, "http://x", default_profile())
        if c["source"]["topic"]["code"] == "extended-monitoring"
    )
    p = expected(1.5, 100.0, 150.0, 3, 6)
    assert f"**{round(p * 100)}%**" in card["detail"]
    for text in (
        "Site-calibrated model",
        "cross-validated AUC 0.74 (95% CI 0.68–0.80)",
        "calibration slope 0.91",
        "calibration intercept -0.04",
        "fitted on 300 B-ALL patients of this site (80 events)",
        "model of 2026-12-01",
    ):
        assert text in card["detail"]
    site = a.to_json()["risk"]["site_model"]
    assert site["status"] == "scored" and site["probability"] == pytest.approx(p, abs=1e-4)
    assert site["validation"]["auc_cv_ci95"] == [0.68, 0.8] and site["training"]["n"] == 300
    assert site["inputs"]["crs_recovery_day"] == {
        "value": 6.0,
        "shown": "CRS recovery day +6",
        "when": day_date(6).isoformat(),
        "source": site["inputs"]["crs_grade"]["source"],
    }
    assert site["inputs"]["crs_grade"]["shown"] == "maximum CRS grade 3 by day +14" and site["landmark_day"] == 14
    assert "maximum CRS grade 3 by day +14, CRS recovery day +6" in card["detail"]


def test_card_says_why_not_scored() -> None:
    a = evaluate(_monitoring_patient(15, crs_condition(3, 2)), day_date(15), profile_with())
    card = next(
        c
        for c in render_cards(a, "http://x", default_profile())
        if c["source"]["topic"]["code"] == "extended-monitoring"
    )
    assert (
        "not scored — crs_grade, crs_recovery_day: CRS from day +2 had not abated by the day +14 landmark: "
        "the model does not apply to this patient"
    ) in card["detail"]
    assert "%**" not in card["detail"]
    site = a.to_json()["risk"]["site_model"]
    assert site["status"] == "not-scored" and site["probability"] is None and site["not_scored_because"]


def test_card_shows_no_crs_as_such_and_what_the_model_rests_on() -> None:
    record = record_of(infusion(), med(FLUDARABINE, LD), BASE, temps(1, 8), obs("neutrophils", 0.3, 22))
    a = evaluate(record, day_date(22), profile_with())  # severe neutropenia after day 21: extended monitoring
    card = next(
        c
        for c in render_cards(a, "http://x", default_profile())
        if c["source"]["topic"]["code"] == "extended-monitoring"
    )
    assert (
        "- rests on these inputs only — CRS as recorded by its day +14 landmark, not today's counts: baseline ANC "
        "1.5 ×10⁹/L, baseline Hb 100 g/L, baseline PLT 150 ×10⁹/L, no CRS by day +14\n"
    ) in card["detail"]


def test_no_model_no_block() -> None:
    a = evaluate(_monitoring_patient(15, crs_condition(3, 2, 6)), day_date(15), default_profile())
    assert a.to_json()["risk"]["site_model"] is None
    assert all("Site-calibrated" not in c["detail"] for c in render_cards(a, "http://x", default_profile()))


# ---- the doors: service start-up and the CLI -----------------------------------------------------------------------


def test_service_refuses_to_start_on_a_bad_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cds_cyto.app import create_app
    from cds_cyto.cli import main
    from cds_cyto.settings import Settings

    bad = tmp_path / "site_model.json"
    bad.write_text(json.dumps(_without(model_doc(), "validation", "calibration_slope")))
    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    with pytest.raises(ProfileError, match="validation figures missing"):
        create_app(Settings(auth="disabled", database_url=db, site_model=bad))
    monkeypatch.setenv("CDS_CYTO_SITE_MODEL", str(bad))
    monkeypatch.setenv("CDS_CYTO_DATABASE_URL", db)
    assert main(["serve", "--demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cds-cyto: configuration: site model") and "calibration_slope" in err
    assert "\n" not in err and "Traceback" not in err


def test_cli_evaluate_with_a_site_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cds_cyto.cli import main

    path = tmp_path / "m.json"
    path.write_text(json.dumps(model_doc({"baseline_neutrophils": -0.8})))
    bundle_file = tmp_path / "p.json"
    from tests.risk.risk_fhir import bundle

    bundle_file.write_text(json.dumps(bundle(infusion(), med(FLUDARABINE, LD), BASE, obs("neutrophils", 2.0, 5))))
    argv = ["evaluate", str(bundle_file), "--disease", "ALL", "--site-model", str(path)]
    assert main([*argv, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    site = out["risk"]["site_model"]
    assert site["status"] == "scored"
    assert site["probability"] == pytest.approx(1 / (1 + math.exp(-(INTERCEPT - 0.8 * math.log(1.5)))), abs=1e-4)
    assert out["profile_versions"]["site_model"].startswith("2026-12-01 sha256:")
    assert main(argv) == 0
    assert "Site model (pht_seed000): " in capsys.readouterr().out
    assert main(["evaluate", str(bundle_file), "--site-model", str(tmp_path / "nope.json")]) == 2


def test_training_inputs_are_read_on_the_landmark() -> None:
    """A steroid on day +30 and a ferritin peak on day +35 are after the landmark (+14): the analysis row keeps them
    for the seeds' analyses, but the site model's inputs must not see them."""

    from cds_cyto.analytics.rows import assessment_row

    record = record_of(
        infusion(), med(FLUDARABINE, LD), BASE, crs_condition(2, 2, 6), obs("ferritin", 500.0, 3),
        med(DEXAMETHASONE, 30), obs("ferritin", 50000.0, 35), obs("neutrophils", 2.0, 40),
    )  # fmt: skip
    row = assessment_row(evaluate(record, day_date(40), default_profile(), "ALL"))
    assert row["toci_or_steroid"] == 1.0 and row["input_toci_or_steroid"] == 0.0
    assert row["max_lg_ferritin"] == pytest.approx(math.log10(50000)) and row["input_max_lg_ferritin"] == (
        pytest.approx(math.log10(500))
    )
    assert row["input_crs_recovery_day"] == 6.0


def test_the_hook_sees_the_recorded_disease() -> None:
    # no disease argument (the hook, the sweep): the record's B-NHL Condition keeps a B-ALL model from scoring it,
    # and a B-ALL Condition lets it score without the site's "every patient is B-ALL" declaration
    nhl = {
        "resourceType": "Condition",
        "id": "dx",
        "subject": {"reference": "Patient/p1"},  # a Condition naming no patient is nobody's (issue 15)
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C83.30"}]},
    }
    s = score(BASE, crs_condition(1, 1, 3), nhl, day=15)
    assert not s.scored and s.reasons == ("the model was fitted on B-ALL patients; this patient's disease is NHL",)
    b_all = {**nhl, "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C91.00"}]}}
    strict = profile_with(thresholds={"site_model": {"unknown_disease_in_population": False}})
    s = score(BASE, crs_condition(1, 1, 3), b_all, day=15, profile=strict)
    assert s.scored, s.reasons
    assert not any("not recorded here" in c for c in s.cautions)


def _monitoring_card(a: Assessment) -> dict[str, Any]:
    cards = render_cards(a, "http://x", default_profile())
    return next(c for c in cards if c["source"]["topic"]["code"] == "extended-monitoring")
