"""RiskAssessment.to_json(): the exact shape, JSON-serialisable, deterministic — and no probability anywhere."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cds_cyto.core.profile import ProfileError, default_profile, load_profile
from cds_cyto.core.risk import assess_risk
from cds_cyto.core.risk.engine import RiskAssessment
from tests.risk.risk_fhir import (
    FLUDARABINE,
    TOCILIZUMAB,
    baseline_labs,
    crs_condition,
    infusion,
    med,
    obs,
    record_of,
    risk_of,
)
from tests.support.fhir import day_date


def _full(disease: str | None = "ALL", as_of_day: int = 14) -> RiskAssessment:
    return risk_of(
        infusion(),
        med(FLUDARABINE, -5),
        baseline_labs(-6, plt=60.0, ferritin=2500.0),
        obs("il6", 21.0, -6),
        obs("marrow_blasts", 45.0, -20),
        obs("ferritin", 9000.0, 5),
        obs("ddimer", 12.0, 6),
        obs("il10", 300.0, 4),
        crs_condition(3, 2, 9),
        med(TOCILIZUMAB, 3),
        as_of_day=as_of_day,
        disease=disease,
    )


def test_exact_shape() -> None:
    out = _full().to_json()
    assert list(out) == [
        "disease",
        "hematotox",
        "crs",
        "markers",
        "published_factors",
        "relative_summary",
        "site_model",
    ]
    assert out["disease"] == {"value": "ALL", "source": "given", "evidence": "stated by the caller (ALL)"}
    assert out["site_model"] is None  # no site model configured
    assert list(out["hematotox"]) == [
        "score",
        "high_risk",
        "complete",
        "missing",
        "components",
        "caveat",
        "performance",
    ]
    assert list(out["hematotox"]["components"]) == ["platelets", "anc", "hemoglobin", "crp", "ferritin"]
    for comp in out["hematotox"]["components"].values():
        assert list(comp) == ["value", "unit", "points", "date", "source"]
    assert set(out["crs"]) == {
        "max_grade",
        "onset_day",
        "peak_day",
        "recovery_day",
        "source",
        "sources",
        "tocilizumab",
        "corticosteroid",
    }
    for peak in out["markers"].values():
        assert list(peak) == ["max", "max_lg", "day"]
    for f in out["published_factors"]:
        assert list(f) == ["source", "outcome", "factor", "value", "present", "effect", "ci"]
    assert out["relative_summary"]["label"] == "published association, not calibrated"
    assert (out["hematotox"]["score"], out["hematotox"]["high_risk"]) == (4, True)


def test_serialisable_and_deterministic() -> None:
    record = record_of(infusion(), baseline_labs(-6), obs("ferritin", 9000.0, 5), crs_condition(3, 2, 9))
    a, b = (
        json.dumps(assess_risk(record, day_date(14), default_profile(), "ALL").to_json(), allow_nan=False)
        for _ in range(2)
    )
    assert a == b


def test_as_of_is_the_only_clock() -> None:
    early, late = _full(as_of_day=3).to_json(), _full(as_of_day=14).to_json()
    assert early["crs"]["recovery_day"] is None and late["crs"]["recovery_day"] == 9
    assert early["markers"]["ferritin"]["max"] is None and late["markers"]["ferritin"]["max"] == 9000.0


# Keys whose strings quote a publication (they may cite cohort percentages, never this patient's risk).
_QUOTES = {"performance", "caveat", "source_text", "present_if", "per", "factor", "note", "label", "source"}
_RISK_WORDS = re.compile(r"probab|likelihood|chance|percent|pct|risk_pct|calibrated_risk", re.I)
_NUMBER_PERCENT = re.compile(r"\d\s*%")


def _walk(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        out = []
        for k, v in node.items():
            out += _walk(v, (*path, str(k)))
        return out
    if isinstance(node, list):
        out = []
        for i, v in enumerate(node):
            out += _walk(v, (*path, str(i)))
        return out
    return [(path, node)]


@pytest.mark.parametrize("disease", [None, "ALL", "NHL"])
def test_no_probability_anywhere(disease: str | None) -> None:
    out = _full(disease).to_json()
    for path, value in _walk(out):
        for key in path:
            assert not _RISK_WORDS.search(key), path
        if isinstance(value, str):
            if _NUMBER_PERCENT.search(value):
                assert path[-1] in _QUOTES, (path, value)  # a percentage only inside a quoted publication
            for m in re.finditer(r"probabilit\w*", value, re.I):
                before = value[max(0, m.start() - 12) : m.start()].lower()
                assert "not a" in before or "no " in before, (path, value)  # only ever denied
    # the relative summary has no exponentiated (HR/OR-scale) or probability-scale number
    for model in out["relative_summary"]["models"].values():
        assert set(model) == {"outcome", "interpretation", "linear_predictor", "complete", "terms", "missing"}


def test_site_override_and_bad_override() -> None:
    data = load_profile(site={"risk": {"hematotox": {"high_risk_at_least": 3}}}).risk
    assert data.hematotox_high_risk_at_least == 3
    assert default_profile().risk.hematotox_high_risk_at_least == 2  # the cached default is untouched
    bad_band = {
        "name": "x",
        "analyte": "x",
        "unit": "u",
        "published": "p",
        "bands": [{"points": 1, "op": "=<", "value": 1.0}],
    }
    with pytest.raises(ProfileError, match="op must be one of"):
        load_profile(site={"risk": {"hematotox": {"variables": [bad_band]}}})
    with pytest.raises(ProfileError, match="risk"):
        load_profile(site={"risk": {"factors": [{"id": "x"}]}})


def test_override_reaches_the_score() -> None:
    site = load_profile(site={"risk": {"hematotox": {"high_risk_at_least": 3}}})
    out = risk_of(infusion(), baseline_labs(-6, plt=100.0, anc=1.0), profile=site).to_json()
    assert (out["hematotox"]["score"], out["hematotox"]["high_risk"]) == (2, False)
