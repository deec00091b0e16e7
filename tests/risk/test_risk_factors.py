"""Published risk factors (clinical-reference.md §7): the cited figures, each patient value, "present" at every
published reference or cut-off, the disease filter and the labelled relative summary."""

from __future__ import annotations

import math

import pytest

from cds_cyto.core.profile import default_profile
from cds_cyto.core.profile.risk_tables import FEATURE_NAMES
from cds_cyto.core.risk import FactorResult, RiskAssessment
from cds_cyto.core.risk.factors import FEATURES
from tests.risk.risk_fhir import FLUDARABINE, TOCILIZUMAB, baseline_labs, crs_condition, infusion, med, obs, risk_of
from tests.support.fhir import Json

LD = -5

# The published figures, pasted from the seed texts (seeds/000 Results; seeds/001 Table III, multivariate column).
PUBLISHED = {
    "s000-sn-tumour-burden": ("HR", 0.987, (0.975, 0.998)),
    "s000-sn-ddimer": ("HR", 0.536, (0.318, 0.906)),
    "s000-sn-crs-peak": ("HR", 0.89, (0.803, 0.985)),
    "s000-sn-toci-steroid": ("HR", 0.36, (0.145, 0.895)),
    "s000-sa-il10": ("HR", 0.533, (0.325, 0.875)),
    "s000-sa-crs-recovery": ("HR", 0.946, (0.899, 0.995)),
    "s000-st-ferritin": ("HR", 0.547, (0.329, 0.91)),
    "s000-pht-crs-onset": ("OR", 1.317, (1.005, 1.726)),
    "s000-pht-crs-recovery": ("OR", 1.167, (1.028, 1.325)),
    "s000-pht-crs-grade": ("OR", 5.312, (1.115, 25.317)),
    "s001-anc": ("OR", 14.834, (2.391, 92.051)),
    "s001-hb": ("OR", 7.963, (1.323, 47.921)),
    "s001-il6": ("OR", 0.091, (0.100, 0.802)),  # as printed (point estimate outside its CI)
}


def test_published_figures() -> None:
    data = default_profile().risk
    assert {f.id: (f.measure, f.estimate, f.ci) for f in data.factors} == PUBLISHED
    for f in data.factors:  # the figure is quoted beside the number
        for x in (f.estimate, *f.ci):
            assert f"{x:g}" in f.source_text, (f.id, x)


def test_feature_registry_matches_config() -> None:
    assert tuple(FEATURES) == FEATURE_NAMES


def _factor(risk: RiskAssessment, fid: str) -> FactorResult:
    return next(f for f in risk.factors if f.definition.id == fid)


def _risk(*resources: Json | list[Json], as_of_day: int = 28, disease: str | None = None) -> RiskAssessment:
    return risk_of(infusion(), med(FLUDARABINE, LD), *resources, as_of_day=as_of_day, disease=disease)


# ---- seed 000 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("blasts", "present"), [(31.0, False), (31.1, True), (30.9, False), (90.0, True)])
def test_tumour_burden_against_the_cohort_median(blasts: float, present: bool) -> None:
    f = _factor(_risk(obs("marrow_blasts", blasts, LD - 10)), "s000-sn-tumour-burden")
    assert (f.value, f.present) == (blasts, present)


@pytest.mark.parametrize(
    ("day", "time", "used"),
    [
        (LD - 31, "08:00:00", False),
        (LD - 30, "08:00:00", True),
        (LD - 1, "08:00:00", True),
        (LD, "08:00:00", True),  # the LD day before the 09:00 first dose: before lymphodepletion (§5's same-day rule)
        (LD, "10:00:00", False),  # after the first dose
    ],
)
def test_marrow_look_back(day: int, time: str, used: bool) -> None:
    f = _factor(_risk(obs("marrow_blasts", 50.0, day, time=time)), "s000-sn-tumour-burden")
    assert (f.value == 50.0) is used


def test_continuous_factors_without_a_published_reference_report_the_value_only() -> None:
    risk = _risk(obs("ddimer", 10.0, 4), obs("il10", 100.0, 3), obs("ferritin", 1000.0, 5), crs_condition(2, 3, 9))
    for fid, value in [
        ("s000-sn-ddimer", 1.0),
        ("s000-sa-il10", 2.0),
        ("s000-st-ferritin", 3.0),
        ("s000-sn-crs-peak", 3.0),
        ("s000-sa-crs-recovery", 9.0),
        ("s000-pht-crs-onset", 3.0),
        ("s000-pht-crs-recovery", 9.0),
    ]:
        f = _factor(risk, fid)
        assert f.value == pytest.approx(value), fid
        assert f.present is None, fid
        assert f.to_json()["effect"]["present_if"] is None


@pytest.mark.parametrize(("grade", "present"), [(1, False), (2, False), (3, True), (4, True)])
def test_crs_grade_present_above_the_cohort_median(grade: int, present: bool) -> None:
    f = _factor(_risk(crs_condition(grade, 2, 6)), "s000-pht-crs-grade")
    assert (f.value, f.present) == (float(grade), present)


def test_unknown_value_is_not_present() -> None:
    risk = _risk()
    assert _factor(risk, "s000-pht-crs-grade").present is None
    assert _factor(risk, "s000-sn-tumour-burden").present is None


def test_tocilizumab_or_corticosteroid_use() -> None:
    assert _factor(_risk(med(TOCILIZUMAB, 4)), "s000-sn-toci-steroid").present is True
    assert _factor(_risk(), "s000-sn-toci-steroid").present is False


def test_fever_derived_onset_is_labelled() -> None:
    f = _factor(_risk(obs("temperature", 38.4, 6)), "s000-pht-crs-onset")
    assert f.value == 6.0
    assert "fever-derived" in f.to_json()["factor"]


# ---- seed 001 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fid", "panel", "present"),
    [
        ("s001-anc", {"anc": 2.29}, False),
        ("s001-anc", {"anc": 2.28}, True),
        ("s001-anc", {"anc": 3.0}, False),
        ("s001-hb", {"hb": 114.5}, False),
        ("s001-hb", {"hb": 114.4}, True),
        ("s001-hb", {"hb": 130.0}, False),
    ],
)
def test_seed001_count_cut_offs(fid: str, panel: dict[str, float], present: bool) -> None:
    f = _factor(_risk(baseline_labs(LD - 1, **panel), disease="NHL"), fid)
    assert f.present is present


@pytest.mark.parametrize(("il6", "present"), [(21.43, False), (21.44, True), (5.0, False)])
def test_seed001_il6_cut_off(il6: float, present: bool) -> None:
    f = _factor(_risk(obs("il6", il6, LD - 2), disease="NHL"), "s001-il6")
    assert f.present is present
    assert "LESS non-recovery" in f.definition.direction  # reported as published


def test_seed001_baseline_uses_the_hematotox_window() -> None:
    f = _factor(_risk(obs("neutrophils", 1.0, LD - 11), disease="NHL"), "s001-anc")
    assert (f.value, f.present) == (None, None)


# ---- disease filter -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("disease", "prefix", "count"), [("ALL", "s000", 10), ("NHL", "s001", 3), (None, "s", 13)])
def test_disease_selects_the_population(disease: str | None, prefix: str, count: int) -> None:
    ids = [f.definition.id for f in _risk(disease=disease).factors]
    assert len(ids) == count and all(i.startswith(prefix) for i in ids)


def test_no_published_factor_for_myeloma() -> None:
    assert _risk(disease="MM").factors == ()


# ---- relative summary -----------------------------------------------------------------------------------------------


def test_relative_summary_complete_for_seed001() -> None:
    risk = _risk(baseline_labs(LD - 1, anc=2.0, hb=120.0), obs("il6", 30.0, LD - 1), disease="NHL")
    out = risk.to_json()["relative_summary"]
    assert out["label"] == "published association, not calibrated"
    model = out["models"]["seed001-nonrecovery-d28"]
    assert model["complete"] is True and model["missing"] == []
    assert model["linear_predictor"] == pytest.approx(round(math.log(14.834) + math.log(0.091), 4))


def test_relative_summary_is_withheld_when_a_term_is_missing() -> None:
    risk = _risk(baseline_labs(LD - 1, anc=2.0, hb=None), disease="NHL")
    model = risk.to_json()["relative_summary"]["models"]["seed001-nonrecovery-d28"]
    assert model["complete"] is False and model["linear_predictor"] is None
    assert len(model["missing"]) == 2  # Hb and IL-6


def test_relative_summary_without_a_reference_is_incomplete() -> None:
    risk = _risk(obs("marrow_blasts", 41.0, LD - 3), obs("ddimer", 10.0, 3), crs_condition(2, 2, 5), disease="ALL")
    sn = risk.to_json()["relative_summary"]["models"]["seed000-sn-recovery"]
    assert sn["linear_predictor"] is None
    burden = next(t for t in sn["terms"] if t["factor"].startswith("bone-marrow"))
    assert burden["contribution"] == pytest.approx(round(math.log(0.987) * 10.0, 4))
    assert any(m.startswith("max lg D-dimer") for m in sn["missing"])


@pytest.mark.parametrize(
    ("comparator", "value", "present"),
    [("<", 2.29, True), ("<", 3.0, None), (">=", 2.29, False), (">", 2.0, None), ("<=", 2.28, True)],
)
def test_seed001_cut_off_on_a_censored_baseline_is_an_interval(
    comparator: str, value: float, present: bool | None
) -> None:
    """ANC "<3.0" against the published cut-off < 2.29 is unknown, not absent (clinical-reference §1)."""
    anc = obs("neutrophils", value, LD - 1)
    anc["valueQuantity"]["comparator"] = comparator
    f = _factor(_risk(anc, disease="NHL"), "s001-anc")
    assert f.present is present
