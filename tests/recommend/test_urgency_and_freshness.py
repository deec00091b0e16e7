"""Urgency that follows clinical risk, and advice only on fresh results (clinical-reference.md §8):
- active CRS ≥ grade 3 (thresholds urgency.crs_grade_at_least) with severe neutropenia, or severe neutropenia after
  day 21 (urgency.neutropenia_after_day), make the G-CSF and extended-monitoring cards at least a warning;
- "ongoing severe" cytopenia for extended monitoring rests on a result within freshness.max_age_days (3)."""

from __future__ import annotations

import pytest

from cds_cyto.core.assessment.recommendation import Recommendation
from cds_cyto.core.assessment.result import Assessment
from tests.core.harness import run
from tests.support.fhir import FILGRASTIM, Json, baseline_panel, crs_condition, infusion, med_admin, obs, patient


def card(a: Assessment, code: str) -> Recommendation | None:
    return next((r for r in a.recommendations if r.code == code), None)


def on_gcsf(day: int) -> list[Json]:
    return [med_admin(FILGRASTIM, d) for d in range(day - 2, day + 1)]


@pytest.mark.parametrize(
    ("crs", "urgency"),
    [
        (crs_condition(3, 4), "warning"),  # active grade 3
        (crs_condition(4, 4), "warning"),
        (crs_condition(2, 4), "info"),  # grade 2: below the cut
        (crs_condition(3, 4, 8), "info"),  # grade 3, recovered on day 8
    ],
)
def test_active_severe_crs_with_severe_neutropenia_is_at_least_a_warning(crs: Json, urgency: str) -> None:
    a = run(patient(), infusion(), crs, on_gcsf(9), obs("neutrophils", 0.36, "10*9/L", day=9), as_of_day=9)
    gcsf = card(a, "gcsf-therapeutic")
    assert gcsf is not None and gcsf.urgency == urgency
    if urgency == "warning":
        assert "at least a warning: active grade" in gcsf.rule
        monitoring = card(a, "extended-monitoring")
        assert monitoring is not None and monitoring.urgency == "warning"
        assert monitoring.text.startswith("Active grade")


def test_without_severe_neutropenia_active_crs_does_not_escalate() -> None:
    a = run(patient(), infusion(), crs_condition(3, 4), obs("neutrophils", 0.6, "10*9/L", day=9), as_of_day=9)
    monitoring = card(a, "extended-monitoring")  # CRS ≥ 3 still warrants counts beyond day 28
    assert monitoring is not None and monitoring.urgency == "info"


@pytest.mark.parametrize(("day", "urgency"), [(21, "info"), (22, "warning")])
def test_severe_neutropenia_after_day_21_is_at_least_a_warning(day: int, urgency: str) -> None:
    a = run(patient(), infusion(), on_gcsf(day), obs("neutrophils", 0.4, "10*9/L", day=day), as_of_day=day)
    gcsf = card(a, "gcsf-therapeutic")
    assert gcsf is not None and gcsf.urgency == urgency


@pytest.mark.parametrize(("as_of_day", "monitoring"), [(22, True), (25, True), (26, False)])
def test_ongoing_severe_cytopenia_needs_a_fresh_result(as_of_day: int, monitoring: bool) -> None:
    # PLT 15 on day 22: severe after day 21 while fresh (3 days); on day 26 it is 4 days old, and counts are overdue
    a = run(patient(), infusion(), obs("platelets", 15, "10*9/L", day=22), as_of_day=as_of_day)
    assert (card(a, "extended-monitoring") is not None) is monitoring
    assert (card(a, "counts-overdue") is not None) is (not monitoring)


@pytest.mark.parametrize(
    ("anc_baseline", "later", "as_of_day", "reason"),
    [
        (1.0, [], 5, True),  # score 2 = high: a reason with no count after infusion at all
        (1.0, [("neutrophils", 3.0, 4)], 5, True),  # ... and with a normal ANC today
        (1.0, [("neutrophils", 0.3, 9)], 20, True),  # ... and with a stale severe one
        (1.0, [], 28, True),  # up to day 28: counts beyond it are still to be planned
        (1.0, [], 29, False),  # past it, risk alone is no reason: the counts speak (no daily card to day +100)
        (1.5, [("neutrophils", 0.3, 9)], 12, False),  # score 1 = not high: the severe ANC alone before day 21 is not
    ],
)
def test_high_hematotox_alone_is_a_reason_for_counts_beyond_day_28(
    anc_baseline: float, later: list[tuple[str, float, int]], as_of_day: int, reason: bool
) -> None:
    # clinical-reference.md §8 lists high CAR-HEMATOTOX as a reason of its own, beside CRS and severe cytopenia
    panel = baseline_panel(plt=100.0, anc=anc_baseline)
    counts = [obs(name, value, "10*9/L", day=day) for name, value, day in later]
    a = run(patient(), infusion(), *panel, *counts, as_of_day=as_of_day)
    monitoring = card(a, "extended-monitoring")
    labels = [e.label for e in monitoring.evidence] if monitoring is not None else []
    assert any(label.startswith("high CAR-HEMATOTOX") for label in labels) is reason, labels


@pytest.mark.parametrize(("as_of_day", "treatment"), [(10, True), (11, False)])
def test_treatment_advice_only_on_fresh_results(as_of_day: int, treatment: bool) -> None:
    a = run(
        patient(),
        infusion(),
        obs("neutrophils", 0.3, "10*9/L", day=7),
        obs("hemoglobin", 55, "g/L", day=7),
        obs("platelets", 12, "10*9/L", day=7),
        as_of_day=as_of_day,
    )
    for code in ("gcsf-therapeutic", "rbc-transfusion", "platelet-transfusion"):
        assert (card(a, code) is not None) is treatment


def test_the_evaluation_card_replaces_extended_monitoring() -> None:
    # ANC 0.3 on day +30: the prolonged-cytopenia evaluation speaks; "if it persists, evaluate" would repeat it
    a = run(patient(), infusion(), obs("neutrophils", 0.3, "10*9/L", day=30), as_of_day=30)
    codes = [r.code for r in a.recommendations]
    assert "prolonged-cytopenia-evaluation" in codes and "extended-monitoring" not in codes, codes
