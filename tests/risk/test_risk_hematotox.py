"""CAR-HEMATOTOX (clinical-reference.md §5): every band edge, both unit systems through extraction, missing
variables, the high-risk tri-state, the baseline windows and the B-ALL caveat.

Expected points are written from the published table, not computed from risk.toml:
  PLT > 175 → 0, 75–175 → 1, < 75 → 2; ANC ≥ 1.2 → 0, < 1.2 → 1; Hb ≥ 9.0 g/dL → 0, < 9.0 → 1;
  CRP < 3.0 mg/dL → 0, ≥ 3.0 → 1; ferritin < 650 → 0, 650–2000 → 1, > 2000 → 2.
"""

from __future__ import annotations

import pytest

from cds_cyto.core.profile.risk_tables import RiskDataError
from tests.risk.risk_fhir import FLUDARABINE, baseline_labs, infusion, med, obs, risk_of
from tests.support.fhir import day_date

LD = -5  # lymphodepletion start (fludarabine) in these tests; baseline panel on day −6


def _score(**values: float | None) -> tuple[int | None, dict[str, int | None]]:
    risk = risk_of(infusion(), med(FLUDARABINE, LD), baseline_labs(LD - 1, **values), as_of_day=0)
    h = risk.hematotox
    return h.score, {c.name: c.points for c in h.components}


# (variable keyword, canonical value, expected points) — below / at / above every edge.
EDGES = [
    ("plt", 176.0, 0),
    ("plt", 175.1, 0),
    ("plt", 175.0, 1),
    ("plt", 174.9, 1),
    ("plt", 75.1, 1),
    ("plt", 75.0, 1),
    ("plt", 74.9, 2),
    ("plt", 10.0, 2),
    ("anc", 1.3, 0),
    ("anc", 1.2, 0),
    ("anc", 1.19, 1),
    ("anc", 0.1, 1),
    ("hb", 91.0, 0),
    ("hb", 90.0, 0),
    ("hb", 89.9, 1),
    ("hb", 60.0, 1),
    ("crp", 29.9, 0),
    ("crp", 30.0, 1),
    ("crp", 30.1, 1),
    ("crp", 0.5, 0),
    ("ferritin", 649.9, 0),
    ("ferritin", 650.0, 1),
    ("ferritin", 650.1, 1),
    ("ferritin", 1999.9, 1),
    ("ferritin", 2000.0, 1),
    ("ferritin", 2000.1, 2),
    ("ferritin", 25000.0, 2),
]
NAME = {"plt": "platelets", "anc": "anc", "hb": "hemoglobin", "crp": "crp", "ferritin": "ferritin"}


@pytest.mark.parametrize(("variable", "value", "points"), EDGES)
def test_band_edges(variable: str, value: float, points: int) -> None:
    score, components = _score(**{variable: value})
    assert components[NAME[variable]] == points
    assert score == points  # every other variable sits in its 0-point band


# Hemoglobin sent in g/dL and CRP in mg/dL must score exactly like g/L and mg/L (Hb 9.0 g/dL = 90 g/L;
# CRP 3.0 mg/dL = 30 mg/L).
@pytest.mark.parametrize(
    ("analyte", "value", "unit", "points"),
    [
        ("hemoglobin", 9.0, "g/dL", 0),
        ("hemoglobin", 8.99, "g/dL", 1),
        ("hemoglobin", 8.9, "g/dL", 1),
        ("hemoglobin", 90.0, "g/L", 0),
        ("hemoglobin", 89.9, "g/L", 1),
        ("crp", 2.99, "mg/dL", 0),
        ("crp", 3.0, "mg/dL", 1),
        ("crp", 3.01, "mg/dL", 1),
        ("crp", 29.9, "mg/L", 0),
        ("crp", 30.0, "mg/L", 1),
    ],
)
def test_both_unit_systems_through_extraction(analyte: str, value: float, unit: str, points: int) -> None:
    keep = {"hb": None} if analyte == "hemoglobin" else {"crp": None}
    risk = risk_of(infusion(), med(FLUDARABINE, LD), baseline_labs(LD - 1, **keep), obs(analyte, value, LD - 1, unit))
    name = "hemoglobin" if analyte == "hemoglobin" else "crp"
    c = risk.hematotox.component(name)
    assert c.points == points
    assert c.unit == ("g/L" if name == "hemoglobin" else "mg/L")  # reported in the record's canonical unit
    assert risk.hematotox.complete


def test_maximum_score_is_seven() -> None:
    score, _ = _score(plt=20.0, anc=0.3, hb=70.0, crp=80.0, ferritin=5000.0)
    assert score == 7


@pytest.mark.parametrize("missing", ["plt", "anc", "hb", "crp", "ferritin"])
def test_each_missing_variable_makes_the_score_incomplete(missing: str) -> None:
    risk = risk_of(infusion(), med(FLUDARABINE, LD), baseline_labs(LD - 1, **{missing: None}))
    h = risk.hematotox
    assert h.complete is False
    assert h.missing == (NAME[missing],)
    assert h.score == 0
    assert h.high_risk is None  # 0 known points, the missing one could still add
    comp = h.to_json()["components"][NAME[missing]]
    assert comp == {"value": None, "unit": comp["unit"], "points": None, "date": None, "source": None}


def test_incomplete_but_already_high_risk() -> None:
    # PLT < 75 (2 points) known; ferritin missing: high risk regardless of ferritin.
    h = risk_of(infusion(), med(FLUDARABINE, LD), baseline_labs(LD - 1, plt=50.0, ferritin=None)).hematotox
    assert (h.score, h.complete, h.high_risk, h.missing) == (2, False, True, ("ferritin",))


def test_incomplete_with_one_point_could_still_reach_high_risk() -> None:
    h = risk_of(infusion(), med(FLUDARABINE, LD), baseline_labs(LD - 1, plt=100.0, ferritin=None)).hematotox
    assert (h.score, h.high_risk) == (1, None)


def test_complete_low_risk_and_high_risk_edges() -> None:
    assert risk_of(infusion(), med(FLUDARABINE, LD), baseline_labs(LD - 1, plt=100.0)).hematotox.high_risk is False
    h = risk_of(infusion(), med(FLUDARABINE, LD), baseline_labs(LD - 1, plt=100.0, anc=1.0)).hematotox
    assert (h.score, h.high_risk) == (2, True)


def test_nothing_known_gives_no_score() -> None:
    h = risk_of(infusion(), med(FLUDARABINE, LD)).hematotox
    assert h.score is None and h.high_risk is None and not h.complete and len(h.missing) == 5


# ---- baseline windows -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "used"),
    [
        (LD - 11, False),  # 11 days before LD: outside
        (LD - 10, True),  # first day of the 10-day window
        (LD - 1, True),  # the day before LD
        (LD, True),  # the LD day, drawn 08:00 before the 09:00 first dose (clinical-reference §5)
        (LD + 1, False),  # after LD started
    ],
)
def test_window_with_lymphodepletion_known(day: int, used: bool) -> None:
    risk = risk_of(infusion(), med(FLUDARABINE, LD), obs("platelets", 50.0, day), as_of_day=0)
    c = risk.hematotox.component("platelets")
    assert (c.points == 2) is used
    assert risk.hematotox.window is not None and risk.hematotox.window.anchor == "lymphodepletion"


@pytest.mark.parametrize(
    ("day", "used"),
    [(-15, False), (-14, True), (-3, True), (-2, False), (0, False)],
)
def test_window_without_lymphodepletion(day: int, used: bool) -> None:
    risk = risk_of(infusion(), obs("platelets", 50.0, day), as_of_day=1)
    c = risk.hematotox.component("platelets")
    assert (c.points == 2) is used
    assert risk.hematotox.window is not None and risk.hematotox.window.anchor == "infusion"


def test_most_recent_result_in_the_window_is_used() -> None:
    risk = risk_of(infusion(), med(FLUDARABINE, LD), obs("platelets", 50.0, LD - 8), obs("platelets", 200.0, LD - 2))
    c = risk.hematotox.component("platelets")
    assert (c.value, c.points, c.date) == (200.0, 0, day_date(LD - 2))


def test_no_infusion_and_no_lymphodepletion_means_no_window() -> None:
    h = risk_of(obs("platelets", 50.0, -6), as_of_day=0).hematotox
    assert h.window is None and h.score is None


def test_result_after_as_of_is_not_seen() -> None:
    # LD known, the only baseline result dated after as_of (a replay of an earlier day): not seen.
    risk = risk_of(infusion(), med(FLUDARABINE, LD), obs("platelets", 50.0, LD - 1), as_of_day=LD - 2)
    assert risk.hematotox.component("platelets").points is None


# ---- disease caveat -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("disease", ["ALL", "B-ALL", "all"])
def test_b_all_caveat(disease: str) -> None:
    out = risk_of(infusion(), baseline_labs(-6), disease=disease).to_json()["hematotox"]
    assert "poor discrimination" in out["caveat"]
    assert "AUC 0.89" in out["performance"]


@pytest.mark.parametrize("disease", [None, "NHL", "LBCL"])
def test_no_caveat_outside_b_all(disease: str | None) -> None:
    out = risk_of(infusion(), baseline_labs(-6), disease=disease).to_json()["hematotox"]
    assert "caveat" not in out
    assert "AUC 0.89" in out["performance"]


def test_unknown_disease_is_an_error_not_a_guess() -> None:
    with pytest.raises(RiskDataError, match="unknown disease"):
        risk_of(infusion(), disease="leukaemia")
