"""Censored values are intervals (clinical-reference §1): "<x" strictly below x, "<=x" at most x, ">x" strictly above,
">=x" at least. A criterion holds when it holds for every value of the interval, fails when it fails for every value,
and is otherwise unknown. Boundary tables at each cut-off, property tests against a brute-force reading of the
interval, then every place a lab value meets a cut-off: CTCAE, severe/grade ≥ 3 flags, nadir, episodes, ICAHT,
PHT day 28, treatment cards, CAR-HEMATOTOX, displays."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_cyto.cli.table import assessment_table
from cds_cyto.core.extract.record import LabResult
from cds_cyto.core.grading import ctcae
from cds_cyto.core.grading.daily import daily_minima, daily_series
from cds_cyto.core.grading.icaht import early_icaht, late_icaht
from cds_cyto.core.grading.interval import (
    Grade,
    Interval,
    above,
    at_least,
    at_most,
    below,
    ctcae_grade,
    interval,
    lowest,
    shown,
)
from cds_cyto.core.grading.pht import pht_seed000
from cds_cyto.core.profile import default_profile
from tests.core.harness import run
from tests.support.fhir import infusion, obs, patient

PROFILE = default_profile()
RULES = PROFILE.icaht
COMPARATORS = ["<", "<=", ">", ">="]


def lab(value: float, comparator: str | None = None, analyte: str = "neutrophils") -> LabResult:
    t = datetime(2024, 3, 6, 8, tzinfo=UTC)
    return LabResult(analyte, value, "10*9/L", t, t.date(), "Observation/x", value, "10*9/L", censored=comparator)


# ---------------------------------------------------------------------------------------------------------------
# Boundary tables: each comparison at its cut-off (ANC 0.5)
# ---------------------------------------------------------------------------------------------------------------

BELOW_05 = [  # value < 0.5
    ("<", 0.5, True),
    ("<=", 0.5, None),  # may be 0.5 itself
    ("<", 0.6, None),
    ("<", 0.49, True),
    ("<=", 0.49, True),
    (">=", 0.5, False),
    (">", 0.5, False),
    (">", 0.49, None),  # 0.495 is below
    (">=", 0.49, None),
    (">", 0.4, None),
    (None, 0.49, True),
    (None, 0.5, False),
]


@pytest.mark.parametrize(("comparator", "value", "expected"), BELOW_05)
def test_below_at_the_cut_off(comparator: str | None, value: float, expected: bool | None) -> None:
    assert below(lab(value, comparator), 0.5) is expected
    assert at_least(lab(value, comparator), 0.5) is (None if expected is None else not expected)


AT_MOST_01 = [  # value ≤ 0.1 (ICAHT)
    ("<", 0.1, True),
    ("<=", 0.1, True),
    ("<", 0.11, None),
    ("<=", 0.11, None),
    (">", 0.1, False),
    (">=", 0.1, None),  # may be 0.1 itself
    (">=", 0.11, False),
    (">", 0.09, None),
    (None, 0.1, True),
    (None, 0.11, False),
]


@pytest.mark.parametrize(("comparator", "value", "expected"), AT_MOST_01)
def test_at_most_at_the_cut_off(comparator: str | None, value: float, expected: bool | None) -> None:
    assert at_most(lab(value, comparator), 0.1) is expected
    assert above(lab(value, comparator), 0.1) is (None if expected is None else not expected)


AT_LEAST_20 = [  # PLT ≥ 20 (recovery)
    (">", 20.0, True),
    (">=", 20.0, True),
    (">", 19.0, None),
    ("<", 20.0, False),
    ("<=", 20.0, None),
    ("<", 25.0, None),
    (None, 20.0, True),
]


@pytest.mark.parametrize(("comparator", "value", "expected"), AT_LEAST_20)
def test_at_least_at_the_cut_off(comparator: str | None, value: float, expected: bool | None) -> None:
    assert at_least(lab(value, comparator, "platelets"), 20.0) is expected


# ---------------------------------------------------------------------------------------------------------------
# Properties: every comparison and grade agrees with the values of the interval
# ---------------------------------------------------------------------------------------------------------------


def _members(i: Interval, marks: list[float]) -> list[float]:
    """Values of `i` at and around every mark (the cut-offs and the ends): enough to see every step of a step
    function whose steps are at the marks."""
    eps = 1e-9
    out = []
    for m in [*marks, i.lo, i.hi]:
        for v in (m - eps, m, m + eps, m - 1.0, m + 1.0):
            if not math.isfinite(v):
                continue
            if (i.lo < v or (v == i.lo and not i.lo_open)) and (v < i.hi or (v == i.hi and not i.hi_open)):
                out.append(v)
    return out


def _three(results: list[bool]) -> bool | None:
    return True if all(results) else False if not any(results) else None


values = st.decimals(min_value=0, max_value=10, places=2).map(float)
cuts = st.decimals(min_value=0, max_value=10, places=2).map(float)


@given(values, st.sampled_from(COMPARATORS), cuts)
def test_comparisons_agree_with_every_value_of_the_interval(value: float, comparator: str, cut: float) -> None:
    i = interval(value, comparator)
    members = _members(i, [cut])
    assert below(i, cut) is _three([v < cut for v in members])
    assert at_most(i, cut) is _three([v <= cut for v in members])
    assert at_least(i, cut) is _three([v >= cut for v in members])
    assert above(i, cut) is _three([v > cut for v in members])


TERMS = [(version, lineage) for version in PROFILE.ctcae for lineage in ("neutrophils", "platelets", "leukocytes")]


@given(
    st.sampled_from(TERMS),
    st.decimals(min_value=0, max_value=200, places=1).map(float),
    st.sampled_from(COMPARATORS),
    st.one_of(st.none(), st.just(2.0), st.just(150.0)),
)
def test_a_censored_grade_is_exact_when_every_value_agrees_and_a_lower_bound_otherwise(
    term_key: tuple[str, str], value: float, comparator: str, lln: float | None
) -> None:
    version, lineage = term_key
    term = PROFILE.ctcae[version][lineage]
    i = interval(value, comparator)
    marks = [b.below for b in term.bands if b.below is not None] + ([lln] if lln is not None else [])
    grades = {ctcae.grade(term, v, lln) for v in _members(i, marks)}
    got = ctcae_grade(term, i, lln)
    known = {g for g in grades if g is not None}
    if len(grades) == 1 and None not in grades:
        assert got == Grade(known.pop())
    elif None in grades or 0 in grades:
        assert got is None  # "≥ 0" says nothing; an LLN that is not known cannot tell 0 from 1
    else:
        assert got == Grade(min(known), exact=False)


def test_a_day_lowest_of_intervals() -> None:
    assert lowest([0.3, Interval(float("-inf"), 0.1, True, True)]) == Interval(float("-inf"), 0.1, True, True)
    assert lowest([0.3, Interval(0.2, float("inf"), True, True)]) == Interval(0.2, 0.3, True, False)
    assert lowest([0.3, 0.2]) == 0.2


# ---------------------------------------------------------------------------------------------------------------
# The reference's examples, end to end
# ---------------------------------------------------------------------------------------------------------------


def test_anc_below_05_is_severe_and_ctcae_v5_grade_4() -> None:
    a = run(patient(), infusion(), obs("neutrophils", 0.5, "10*9/L", day=5, comparator="<"))
    la = a.lineages["neutrophils"]
    assert (la.severe, la.ctcae["5.0"], la.ctcae_exact["5.0"]) == (True, 4, True)
    assert "gcsf-therapeutic" in [r.code for r in a.recommendations]


def test_platelets_below_10_is_ctcae_v6_grade_4() -> None:
    a = run(patient(), infusion(), obs("platelets", 10, "10*9/L", day=5, comparator="<"))
    la = a.lineages["platelets"]
    assert (la.ctcae["6.0"], la.ctcae_exact["6.0"], la.severe) == (4, True, True)


def test_anc_below_1_is_grade_at_least_3_shown_as_such() -> None:
    a = run(patient(), infusion(), obs("neutrophils", 1.0, "10*9/L", day=5, comparator="<"))
    la = a.lineages["neutrophils"]
    assert (la.ctcae["5.0"], la.ctcae_exact["5.0"], la.ctcae_text("5.0")) == (3, False, "≥ 3")
    assert la.grade3plus is True and la.severe is None  # < 1.0 for sure; < 0.5 unknown
    out = a.to_json()["lineages"]["neutrophils"]
    assert (out["ctcae"]["5.0"], out["ctcae_exact"]["5.0"]) == (3, False)
    table = assessment_table(a)
    assert "≥3/≥3/≥2" in table and "<1 " in table
    assert "gcsf-therapeutic" not in [r.code for r in a.recommendations]  # unknown never fires a treatment card


def test_anc_below_01_counts_for_icaht_at_most_01() -> None:
    points = [(d, Interval(float("-inf"), 0.1, True, True)) for d in range(0, 14)]
    g = early_icaht([*points, *[(d, 2.0) for d in range(14, 31)]], 30, RULES)
    assert (g.counts["days_le_100"], g.grade, g.provisional) == (14, 4, False)


def test_a_censored_day_across_the_cut_off_keeps_icaht_provisional() -> None:
    # "<0.6" on days 0–13: each day may or may not be ≤ 0.5 — counted as not, and the grade is a lower bound
    points = [(d, Interval(float("-inf"), 0.6, True, True)) for d in range(0, 14)]
    g = early_icaht([*points, *[(d, 2.0) for d in range(14, 31)]], 30, RULES)
    assert (g.counts["days_le_500"], g.grade, g.provisional) == (0, 0, True)


def test_no_interpolation_next_to_a_censored_day() -> None:
    censored = Interval(float("-inf"), 0.1, True, True)
    series = daily_series(daily_minima([(0, censored), (4, 0.05)]), 0, 4, 7)
    assert series == [censored, None, None, None, 0.05]
    assert daily_series(daily_minima([(0, 0.2), (4, 0.6)]), 0, 4, 7)[2] == 0.4


def test_late_icaht_with_censored_lows() -> None:
    lt01 = Interval(float("-inf"), 0.1, True, True)
    assert late_icaht([(40, lt01), (50, lt01)], 100, RULES).grade == 4
    lt06 = Interval(float("-inf"), 0.6, True, True)
    g = late_icaht([(40, lt06), (50, lt06)], 100, RULES)
    assert (g.grade, g.provisional) == (2, True)  # ≤ 1.0 for sure, ≤ 0.5 unknown


@pytest.mark.parametrize(("comparator", "value", "pht"), [("<", 0.5, True), ("<", 0.6, None), (">=", 0.5, False)])
def test_pht_day28_with_a_censored_anc(comparator: str, value: float, pht: bool | None) -> None:
    points: dict[str, list[tuple[int, float | Interval]]] = {
        "neutrophils": [(28, interval(value, comparator))],
        "hemoglobin": [(28, 100.0)],
        "platelets": [(28, 100.0)],
    }
    severe = PROFILE.definitions["seed000"].severe
    assert pht_seed000(points, severe, 30, 28, (26, 30)) is pht


def test_a_censored_platelet_count_above_20_counts_toward_recovery() -> None:
    counts = [obs("platelets", 150, "10*9/L", day=-3), obs("platelets", 10, "10*9/L", day=5)]
    counts += [obs("platelets", 20, "10*9/L", day=d, comparator=">") for d in (8, 9, 10)]
    a = run(patient(), infusion(), *counts, as_of_day=12)
    (ep,) = [e for e in a.lineages["platelets"].episodes if e.profile == "seed000"]
    assert (ep.onset_day, ep.recovery_day) == (5, 8)


@pytest.mark.parametrize(("comparator", "value"), [("<", 0.6), (">", 0.4), (">=", 0.3)])
def test_a_censored_value_that_may_be_above_starts_no_episode(comparator: str, value: float) -> None:
    a = run(patient(), infusion(), obs("neutrophils", value, "10*9/L", day=5, comparator=comparator))
    assert [e for e in a.lineages["neutrophils"].episodes if e.profile == "seed000"] == []


@pytest.mark.parametrize(("comparator", "value"), [("<", 20.0), ("<=", 20.0), ("<", 30.0), (">", 19.0)])
def test_a_censored_platelet_count_that_may_be_below_20_is_no_recovery(comparator: str, value: float) -> None:
    counts = [obs("platelets", 150, "10*9/L", day=-3), obs("platelets", 10, "10*9/L", day=5)]
    counts += [obs("platelets", value, "10*9/L", day=d, comparator=comparator) for d in (8, 9, 10)]
    a = run(patient(), infusion(), *counts, as_of_day=12)
    (ep,) = [e for e in a.lineages["platelets"].episodes if e.profile == "seed000"]
    assert ep.recovery_day is None


def test_the_nadir_prefers_a_censored_value_below_an_equal_bound() -> None:
    a = run(
        patient(),
        infusion(),
        obs("neutrophils", 0.1, "10*9/L", day=5),
        obs("neutrophils", 0.1, "10*9/L", day=6, comparator="<"),
    )
    nadir = a.lineages["neutrophils"].nadir
    assert nadir is not None and (nadir[1], nadir[2].censored) == (6, "<")
    assert a.to_json()["lineages"]["neutrophils"]["nadir"] == {"value": 0.1, "day": 6, "censored": "<"}


def test_card_evidence_shows_the_comparator_not_the_bare_bound() -> None:
    a = run(patient(), infusion(), obs("neutrophils", 0.5, "10*9/L", day=5, comparator="<"))
    (card,) = [r for r in a.recommendations if r.code == "gcsf-therapeutic"]
    assert card.evidence[0].value == "<0.5 ×10⁹/L"
    assert card.summary.startswith("ANC <0.5 ×10⁹/L")
    assert shown(lab(0.5, "<")) == "<0.5"


@pytest.mark.parametrize(
    ("analyte", "value", "comparator", "card"),
    [
        ("hemoglobin", 60.0, "<", "rbc-transfusion"),
        ("platelets", 20.0, "<", "platelet-transfusion"),
    ],
)
def test_censored_counts_below_a_transfusion_threshold_fire_the_card(
    analyte: str, value: float, comparator: str, card: str
) -> None:
    unit = "g/L" if analyte == "hemoglobin" else "10*9/L"
    fires = run(patient(), infusion(), obs(analyte, value, unit, day=5, comparator=comparator))
    assert card in [r.code for r in fires.recommendations]
    unknown = run(patient(), infusion(), obs(analyte, value + 5, unit, day=5, comparator=comparator))
    assert card not in [r.code for r in unknown.recommendations]
    (quality,) = [r for r in unknown.recommendations if r.code == "data-quality"]
    assert any(e.label == "censored-across-threshold" for e in quality.evidence)


@pytest.mark.parametrize(
    ("plt", "comparator", "points", "missing"),
    [(100.0, "<", None, True), (75.0, "<", 2, False), (175.0, ">", 0, False), (175.0, "<=", None, True)],
)
def test_hematotox_band_of_a_censored_baseline(plt: float, comparator: str, points: int | None, missing: bool) -> None:
    a = run(
        patient(),
        infusion(),
        obs("platelets", plt, "10*9/L", day=-5, comparator=comparator),
        as_of_day=0,
    )
    assert a.risk is not None
    h = a.risk.hematotox
    assert h.component("platelets").points == points
    assert ("platelets" in h.missing) is missing


@pytest.mark.parametrize(
    ("wbc", "pct", "expected"),
    [
        ((1.0, "<"), (50.0, None), (0.5, "<")),
        ((1.0, "<"), (50.0, "<="), (0.5, "<")),
        ((1.0, "<="), (50.0, "<="), (0.5, "<=")),
        ((1.0, ">"), (50.0, ">="), (0.5, ">")),
        ((1.0, "<"), (50.0, ">"), None),  # opposite directions: no ANC, a data problem
    ],
)
def test_a_derived_anc_from_censored_inputs(
    wbc: tuple[float, str | None], pct: tuple[float, str | None], expected: tuple[float, str] | None
) -> None:
    a = run(
        patient(),
        infusion(),
        obs("leukocytes", wbc[0], "10*9/L", day=5, comparator=wbc[1]),
        obs("neutrophils_pct", pct[0], "%", day=5, comparator=pct[1]),
    )
    got = [(r.value, r.censored) for r in a.record.series("neutrophils")]
    assert got == ([] if expected is None else [expected])
    assert ("anc-not-derived" in [p.code for p in a.data_problems]) is (expected is None)


def test_a_censored_value_is_no_duplicate_of_its_bound() -> None:
    a = run(
        patient(),
        infusion(),
        obs("neutrophils", 0.5, "10*9/L", day=5, id="exact"),
        obs("neutrophils", 0.5, "10*9/L", day=5, id="bound", comparator="<"),
    )
    assert sorted((r.value, r.censored or "") for r in a.record.series("neutrophils")) == [(0.5, ""), (0.5, "<")]
    assert "duplicate" not in [p.code for p in a.data_problems]
