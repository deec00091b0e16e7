"""Risk recommendations: prophylactic G-CSF, the antibacterial-prophylaxis addition and the extended-monitoring
reasons — each fires and stays silent at its boundaries; the thresholds come from the profile and risk.toml."""

from __future__ import annotations

import pytest

from cds_cyto.core.extract.record import LabResult, PatientRecord
from cds_cyto.core.profile import Profile, default_profile, load_profile
from cds_cyto.core.recommend.cytopenia import Evidence, Recommendation
from cds_cyto.core.recommend.risk_based import CardAddition, antibacterial_prophylaxis, risk_recommendations
from cds_cyto.core.recommend.rules import CODES
from cds_cyto.core.risk import assess_risk
from tests.risk.risk_fhir import FLUDARABINE, baseline_labs, crs_condition, crs_grade, infusion, med, obs, record_of
from tests.support.fhir import FILGRASTIM, Json, day_date

LD = -5
HIGH = baseline_labs(LD - 1, plt=100.0, anc=1.0)  # CAR-HEMATOTOX 2
LOW = baseline_labs(LD - 1, plt=100.0)  # CAR-HEMATOTOX 1, complete


def _latest_anc(record: PatientRecord, as_of_day: int) -> LabResult | None:
    upto = [r for r in record.series("neutrophils") if r.local_date <= day_date(as_of_day)]
    return upto[-1] if upto else None


def _run(
    *resources: Json | list[Json],
    day: int,
    profile: Profile | None = None,
) -> tuple[list[Recommendation], list[Evidence], CardAddition | None]:
    profile = profile or default_profile()
    record = record_of(infusion(), med(FLUDARABINE, LD), *resources)
    as_of = day_date(day)
    risk = assess_risk(record, as_of, profile)
    anc = _latest_anc(record, day)
    recs, reasons = risk_recommendations(risk, record, as_of, day, anc, profile)
    return recs, reasons, antibacterial_prophylaxis(risk, as_of, day, anc, profile)


def _prophylaxis(recs: list[Recommendation]) -> Recommendation | None:
    return next((r for r in recs if r.code == "gcsf-prophylaxis"), None)


# ---- prophylactic G-CSF -------------------------------------------------------------------------------------------


# The start window: thresholds gcsf_prophylaxis.from_day (2) to start_until_day (7), both included.
@pytest.mark.parametrize(("day", "fires"), [(0, False), (1, False), (2, True), (3, True), (7, True), (8, False)])
def test_prophylaxis_days(day: int, fires: bool) -> None:
    recs, _, _ = _run(HIGH, day=day)
    assert (_prophylaxis(recs) is not None) is fires


def test_prophylaxis_card_content() -> None:
    recs, _, _ = _run(HIGH, obs("neutrophils", 0.8, 2), day=2)
    rec = _prophylaxis(recs)
    assert rec is not None and rec.code in CODES
    assert rec.urgency == "warning"
    assert "5 µg/kg/day" in rec.text and "EHA/EBMT" in rec.citation and "CAR-HEMATOTOX" in rec.citation
    assert len(rec.summary) < 140
    assert rec.facts["hematotox_score"] == 2 and rec.facts["dose"] == "5 µg/kg/day"
    labels = [e.label for e in rec.evidence]
    assert "CAR-HEMATOTOX score" in labels and "CAR-HEMATOTOX anc" in labels and "ANC" in labels


def test_prophylaxis_needs_high_risk() -> None:
    recs, _, _ = _run(LOW, day=3)
    assert _prophylaxis(recs) is None


def test_prophylaxis_on_an_incomplete_score_only_when_known_points_suffice() -> None:
    recs, _, _ = _run(baseline_labs(LD - 1, plt=50.0, ferritin=None), day=3)  # 2 known points
    rec = _prophylaxis(recs)
    assert rec is not None and "incomplete" in rec.text and rec.facts["hematotox_complete"] is False
    recs, _, _ = _run(baseline_labs(LD - 1, plt=100.0, ferritin=None), day=3)  # 1 known point
    assert _prophylaxis(recs) is None


@pytest.mark.parametrize(("gcsf_day", "blocks"), [(-10, False), (0, True), (2, True), (5, False)])
def test_prophylaxis_not_when_already_on_gcsf(gcsf_day: int, blocks: bool) -> None:
    recs, _, _ = _run(HIGH, med(FILGRASTIM, gcsf_day), day=4)  # a dose on day 5 is after as_of
    assert (_prophylaxis(recs) is None) is blocks


def test_prophylaxis_never_says_no_g_csf_over_an_unidentified_drug() -> None:
    """A drug given on day 1 by a reference to a Medication not in the data may have been G-CSF: the card asks to
    check, and offers no order (issue 12)."""
    unknown = med(FILGRASTIM, 1)
    del unknown["medicationCodeableConcept"]
    unknown["medicationReference"] = {"reference": "Medication/not-sent"}
    recs, _, _ = _run(HIGH, unknown, day=3)
    rec = _prophylaxis(recs)
    assert rec is not None
    assert "no G-CSF" not in rec.text and "none recorded" not in [e.value for e in rec.evidence]
    assert "check whether G-CSF was given" in rec.summary and "could not be identified" in rec.text
    assert rec.facts["unidentified_medication"] is True


@pytest.mark.parametrize(
    ("anc", "anc_day", "fires"),
    [
        (0.49, 4, False),  # fresh ANC < 0.5: the therapeutic card applies
        (0.5, 4, True),
        (0.49, 1, False),  # 3 days old: still fresh (thresholds freshness.max_age_days = 3)
        (0.49, 0, True),  # 4 days old: stale, the therapeutic card does not fire
    ],
)
def test_prophylaxis_yields_to_the_therapeutic_card(anc: float, anc_day: int, fires: bool) -> None:
    recs, _, _ = _run(HIGH, obs("neutrophils", anc, anc_day), day=4)
    assert (_prophylaxis(recs) is not None) is fires


def test_prophylaxis_threshold_comes_from_the_profile() -> None:
    profile = load_profile(site={"thresholds": {"gcsf_prophylaxis": {"hematotox_at_least": 3, "from_day": 4}}})
    recs, _, _ = _run(HIGH, day=5, profile=profile)
    assert _prophylaxis(recs) is None
    recs, _, _ = _run(baseline_labs(LD - 1, plt=50.0, anc=1.0), day=3, profile=profile)
    assert _prophylaxis(recs) is None  # score 3, but before the site's day +4
    recs, _, _ = _run(baseline_labs(LD - 1, plt=50.0, anc=1.0), day=4, profile=profile)
    assert _prophylaxis(recs) is not None


# ---- antibacterial prophylaxis (an addition to the gcsf-therapeutic card) -------------------------------------------


@pytest.mark.parametrize(
    ("panel", "anc", "anc_day", "fires"),
    [
        (HIGH, 0.49, 6, True),
        (HIGH, 0.5, 6, False),
        (HIGH, 0.3, 2, False),  # 4 days old at day 6: stale
        (LOW, 0.3, 6, False),  # not high risk
    ],
)
def test_antibacterial_prophylaxis(panel: list[Json], anc: float, anc_day: int, fires: bool) -> None:
    _, _, addition = _run(panel, obs("neutrophils", anc, anc_day), day=6)
    assert (addition is not None) is fires
    if addition is not None:
        assert addition.code == "gcsf-therapeutic" and "antibacterial" in addition.text
        assert "EHA/EBMT" in addition.citation


# ---- extended-monitoring reasons ------------------------------------------------------------------------------------


def _labels(reasons: list[Evidence]) -> list[str]:
    return [r.label for r in reasons]


@pytest.mark.parametrize(("grade", "fires"), [(2, False), (3, True), (4, True)])
def test_crs_grade(grade: int, fires: bool) -> None:
    _, reasons, _ = _run(crs_condition(grade, 2, 5, id="c9"), day=10)
    hits = [r for r in reasons if r.label.startswith("CRS grade")]
    assert bool(hits) is fires
    if hits:
        assert hits[0].source == "Condition/c9" and hits[0].when == day_date(2).isoformat()


def test_crs_grade_from_observations() -> None:
    _, reasons, _ = _run(crs_grade(1, 2), crs_grade(3, 4), crs_grade(0, 6), day=10)
    assert any(label.startswith("CRS grade ≥ 3") for label in _labels(reasons))


@pytest.mark.parametrize(("onset", "fires"), [(7, False), (8, True)])
def test_late_onset(onset: int, fires: bool) -> None:
    _, reasons, _ = _run(crs_condition(1, onset, onset + 2), day=20)
    assert any(label.startswith("late CRS onset") for label in _labels(reasons)) is fires


def test_fever_alone_is_no_late_onset() -> None:
    _, reasons, _ = _run(obs("temperature", 39.0, 12), day=20)
    assert reasons == []


@pytest.mark.parametrize(("recovery", "fires"), [(10, False), (11, True)])
def test_late_recovery(recovery: int, fires: bool) -> None:
    _, reasons, _ = _run(crs_condition(1, 2, recovery), day=20)  # duration = recovery − 2
    assert any(label.startswith("late CRS recovery") for label in _labels(reasons)) is fires


@pytest.mark.parametrize(("day", "fires"), [(10, False), (11, True)])
def test_ongoing_crs_counts_as_late_recovery(day: int, fires: bool) -> None:
    _, reasons, _ = _run(crs_condition(2, 2, None), day=day)
    hits = [r for r in reasons if r.label.startswith("late CRS recovery")]
    assert bool(hits) is fires
    if hits:
        assert "not recovered" in hits[0].value


def test_late_crs_defaults_are_site_overridable() -> None:
    overrides = {"crs": {"late": {"onset_after_day": 5, "duration_over_days": 20}}}
    _, reasons, _ = _run(crs_condition(1, 6, 17), day=20, profile=load_profile(site={"risk": overrides}))
    labels = _labels(reasons)
    assert any(label.startswith("late CRS onset: after day +5") for label in labels)
    assert not any(label.startswith("late CRS recovery") for label in labels)


@pytest.mark.parametrize(
    ("panel", "anc", "fires"),
    [(HIGH, 0.49, True), (HIGH, 0.5, True), (HIGH, 3.0, True), (LOW, 0.2, False)],
)
def test_high_hematotox_alone_is_a_reason(panel: list[Json], anc: float, fires: bool) -> None:
    # clinical-reference §8 lists high CAR-HEMATOTOX on its own, whatever today's ANC
    _, reasons, _ = _run(panel, obs("neutrophils", anc, 12), day=14)
    hits = [r for r in reasons if r.label.startswith("high CAR-HEMATOTOX")]
    assert bool(hits) is fires
    if hits:
        assert hits[0].when is not None and hits[0].when < day_date(0).isoformat()  # the baseline, before infusion


def test_pre_infusion_neutropenia_is_not_ongoing() -> None:
    _, reasons, _ = _run(HIGH, obs("neutrophils", 0.2, -1), day=0)
    assert not any("neutropenia" in r.label for r in reasons), reasons


def test_crs_grade_threshold_comes_from_the_profile() -> None:
    profile = load_profile(site={"thresholds": {"extended_monitoring": {"crs_grade_at_least": 2}}})
    _, reasons, _ = _run(crs_condition(2, 2, 5), day=10, profile=profile)
    assert any(label.startswith("CRS grade ≥ 2") for label in _labels(reasons))


def test_no_infusion_no_recommendations() -> None:
    record = record_of(med(FLUDARABINE, LD), HIGH)
    profile = default_profile()
    risk = assess_risk(record, day_date(5), profile)
    assert risk_recommendations(risk, record, day_date(5), None, None, profile) == ([], [])
