"""Episodes and recovery (clinical-reference.md §3): onset, nadir, recovery look-backs, new-onset, per profile.

Recovery day = the first of the qualifying days. Neutrophils: 3 consecutive results on different days ≥ threshold
(seed 000 irrespective of G-CSF; seed 001 without G-CSF). Platelets: 3 results ≥ threshold, no platelet transfusion
in the 7 days before. Hemoglobin: seed 000 one result ≥ 60 g/L, no red-cell transfusion in the 7 days before;
seed 001 three results ≥ 80 g/L.
"""

from __future__ import annotations

from typing import Any

import pytest

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.grading.episodes import Episode
from cds_cyto.core.profile import load_profile
from tests.core.harness import run
from tests.support.fhir import (
    BLOOD_PRODUCT,
    FILGRASTIM,
    PLATELET_TRANSFUSION,
    RBC_TRANSFUSION,
    infusion,
    med_admin,
    obs,
    procedure,
    series,
)


def episodes(a: Assessment, lineage: str, profile: str) -> list[Episode]:
    return [e for e in a.lineages[lineage].episodes if e.profile == profile]


def only(a: Assessment, lineage: str, profile: str) -> Episode:
    eps = episodes(a, lineage, profile)
    assert len(eps) == 1, eps
    return eps[0]


# ---------------------------------------------------------------------------------------------------------------
# Neutrophils
# ---------------------------------------------------------------------------------------------------------------


def test_anc_episode_onset_nadir_recovery_duration() -> None:
    a = run(infusion(), series("neutrophils", [(1, 1.2), (2, 0.3), (4, 0.2), (6, 0.5), (7, 0.6), (8, 0.7)], "10*9/L"))
    ep = only(a, "neutrophils", "seed000")
    assert (ep.onset_day, ep.nadir_value, ep.nadir_day, ep.recovery_day, ep.duration_days) == (2, 0.2, 4, 6, 4)
    assert ep.new_onset is True


RECOVERY_THRESHOLD = [
    # (profile, value in the qualifying run, recovered?) — "≥ threshold": the threshold itself qualifies
    ("seed000", 0.49, False),
    ("seed000", 0.5, True),
    ("seed000", 0.51, True),
    ("seed001", 0.99, False),
    ("seed001", 1.0, True),
    ("seed001", 1.01, True),
]


@pytest.mark.parametrize(("profile", "value", "recovered"), RECOVERY_THRESHOLD)
@pytest.mark.parametrize(("unit", "factor"), [("10*9/L", 1), ("/uL", 1000)])
def test_anc_recovery_threshold(profile: str, value: float, recovered: bool, unit: str, factor: int) -> None:
    pts = [(2, 0.2), (10, value), (11, value), (12, value)]
    a = run(infusion(), series("neutrophils", [(d, round(v * factor, 6)) for d, v in pts], unit))
    ep = only(a, "neutrophils", profile)
    assert ep.recovery_day == (10 if recovered else None)


@pytest.mark.parametrize(
    ("lineage", "profile", "below", "at"),
    [
        ("platelets", "seed000", 19.9, 20.0),
        ("platelets", "seed001", 49.9, 50.0),
        ("hemoglobin", "seed000", 59.9, 60.0),
        ("hemoglobin", "seed001", 79.9, 80.0),
    ],
)
def test_recovery_thresholds_other_lineages(lineage: str, profile: str, below: float, at: float) -> None:
    unit = "g/L" if lineage == "hemoglobin" else "10*9/L"
    low = 10.0 if lineage == "platelets" else 50.0
    stuck = run(infusion(), series(lineage, [(2, low), (10, below), (11, below), (12, below)], unit))
    assert only(stuck, lineage, profile).recovery_day is None
    up = run(infusion(), series(lineage, [(2, low), (10, at), (11, at), (12, at)], unit))
    assert only(up, lineage, profile).recovery_day == 10


def test_unstable_recovery_restarts_the_count() -> None:
    pts = [(2, 0.3), (5, 0.6), (6, 0.6), (7, 0.3), (9, 0.6), (10, 0.6), (12, 0.6)]
    ep = only(run(infusion(), series("neutrophils", pts, "10*9/L")), "neutrophils", "seed000")
    assert (ep.recovery_day, ep.nadir_value, ep.nadir_day) == (9, 0.3, 2)


def test_recovery_counts_after_a_later_nadir() -> None:
    pts = [(2, 0.3), (5, 0.6), (6, 0.6), (7, 0.1), (9, 0.6), (10, 0.6), (11, 0.6)]
    ep = only(run(infusion(), series("neutrophils", pts, "10*9/L")), "neutrophils", "seed000")
    assert (ep.nadir_value, ep.nadir_day, ep.recovery_day, ep.duration_days) == (0.1, 7, 9, 7)


def test_results_on_the_same_day_count_as_one_day() -> None:
    pts = [
        obs("neutrophils", 0.3, "10*9/L", day=2),
        obs("neutrophils", 0.6, "10*9/L", day=5, when="2024-03-06T08:00:00Z"),
        obs("neutrophils", 0.7, "10*9/L", day=5, when="2024-03-06T20:00:00Z"),
        obs("neutrophils", 0.6, "10*9/L", day=6),
    ]
    a = run(infusion(), pts)
    assert only(a, "neutrophils", "seed000").recovery_day is None  # two days only
    a = run(infusion(), pts, obs("neutrophils", 0.6, "10*9/L", day=7))
    assert only(a, "neutrophils", "seed000").recovery_day == 5


def test_a_low_result_on_a_qualifying_day_restarts_the_count() -> None:
    pts = [
        obs("neutrophils", 0.3, "10*9/L", day=2),
        obs("neutrophils", 0.6, "10*9/L", when="2024-03-06T08:00:00Z"),  # day 5
        obs("neutrophils", 0.4, "10*9/L", when="2024-03-06T20:00:00Z"),  # day 5, below again
        *series("neutrophils", [(6, 0.6), (7, 0.6), (8, 0.6)], "10*9/L"),
    ]
    assert only(run(infusion(), pts), "neutrophils", "seed000").recovery_day == 6


def test_sparse_results_still_count_as_consecutive() -> None:
    """Three consecutive results on different days, however far apart (CIBMTR: consecutive laboratory values)."""
    pts = [(2, 0.2), (10, 0.8), (17, 0.9), (24, 1.1)]
    ep = only(run(infusion(), series("neutrophils", pts, "10*9/L")), "neutrophils", "seed000")
    assert ep.recovery_day == 10


def test_gcsf_blocks_recovery_for_seed001_only() -> None:
    pts = [(2, 0.3), (8, 1.2), (9, 1.3), (10, 1.4), (12, 1.5), (13, 1.5), (14, 1.6), (15, 1.7)]
    a = run(infusion(), series("neutrophils", pts, "10*9/L"), med_admin(FILGRASTIM, 5))
    assert only(a, "neutrophils", "seed000").recovery_day == 8  # irrespective of G-CSF
    assert only(a, "neutrophils", "seed001").recovery_day == 13  # first day > 7 days after the dose on day 5


def test_gcsf_not_given_does_not_block() -> None:
    pts = [(2, 0.3), (8, 1.2), (9, 1.3), (10, 1.4)]
    a = run(infusion(), series("neutrophils", pts, "10*9/L"), med_admin(FILGRASTIM, 5, status="not-done"))
    assert only(a, "neutrophils", "seed001").recovery_day == 8


def test_episode_still_open_at_as_of() -> None:
    pts = [(2, 0.3), (9, 0.6), (10, 0.7), (11, 0.8)]
    a = run(infusion(), series("neutrophils", pts, "10*9/L"), as_of_day=10)
    ep = only(a, "neutrophils", "seed000")
    assert (ep.recovery_day, ep.duration_days, ep.recovery_pending_from) == (None, None, 9)


def test_two_episodes() -> None:
    pts = [(2, 0.3), (5, 0.7), (6, 0.7), (7, 0.7), (15, 0.2), (20, 0.6), (21, 0.6), (22, 0.6)]
    eps = episodes(run(infusion(), series("neutrophils", pts, "10*9/L")), "neutrophils", "seed000")
    assert [(e.onset_day, e.recovery_day, e.new_onset) for e in eps] == [(2, 5, True), (15, 20, True)]


def test_mixed_units_in_one_episode() -> None:
    resources = [
        obs("neutrophils", 300, "/uL", day=2),
        obs("neutrophils", 0.2, "10*9/L", day=4),
        obs("neutrophils", 500, "{cells}/uL", day=6),
        obs("neutrophils", 0.6, "K/uL", day=7),
        obs("neutrophils", 700, "/mm3", day=8),
    ]
    ep = only(run(infusion(), resources), "neutrophils", "seed000")
    assert (ep.onset_day, ep.nadir_value, ep.nadir_day, ep.recovery_day) == (2, 0.2, 4, 6)


# ---------------------------------------------------------------------------------------------------------------
# Platelets: no platelet transfusion in the 7 days before (project default look-back; configurable)
# ---------------------------------------------------------------------------------------------------------------

DAILY_PLT = [(3, 10.0), *((d, 60.0) for d in range(11, 25))]


@pytest.mark.parametrize(
    ("transfusion_day", "recovery_day"),
    [
        (None, 11),
        (3, 11),  # 8 days before day 11: outside the look-back
        (4, 12),  # 7 days before day 11: blocks day 11
        (10, 18),  # day 17 is 7 days after (blocked); day 18 is the first clear day
        (11, 19),  # a transfusion on the day of a result blocks it
        (12, 20),  # inside the run: the run restarts after the look-back
        (14, 11),  # after three qualifying days: recovery already happened on day 11
    ],
)
@pytest.mark.parametrize("profile", ["seed000", "seed001"])
def test_platelet_transfusion_lookback(transfusion_day: int | None, recovery_day: int, profile: str) -> None:
    resources: list[Any] = [infusion(), series("platelets", DAILY_PLT, "10*9/L")]
    if transfusion_day is not None:
        resources.append(procedure(PLATELET_TRANSFUSION, transfusion_day))
    ep = only(run(*resources), "platelets", profile)
    assert ep.recovery_day == recovery_day


def test_unspecified_blood_product_blocks_platelet_recovery() -> None:
    a = run(infusion(), series("platelets", DAILY_PLT, "10*9/L"), procedure(BLOOD_PRODUCT, 10))
    assert only(a, "platelets", "seed000").recovery_day == 18


def test_red_cell_transfusion_does_not_block_platelet_recovery() -> None:
    a = run(infusion(), series("platelets", DAILY_PLT, "10*9/L"), procedure(RBC_TRANSFUSION, 10))
    assert only(a, "platelets", "seed000").recovery_day == 11


def test_transfusion_period_blocks_from_its_end() -> None:
    proc = procedure(PLATELET_TRANSFUSION, 9)
    del proc["performedDateTime"]
    proc["performedPeriod"] = {"start": "2024-03-10T10:00:00Z", "end": "2024-03-11T02:00:00Z"}  # days 9–10
    a = run(infusion(), series("platelets", DAILY_PLT, "10*9/L"), proc)
    assert only(a, "platelets", "seed000").recovery_day == 18


def test_site_can_shorten_the_lookback() -> None:
    profile = load_profile(site={"profiles": {"seed000": {"recovery": {"platelets": {"lookback_days": 3}}}}})
    a = run(infusion(), series("platelets", DAILY_PLT, "10*9/L"), procedure(PLATELET_TRANSFUSION, 10), profile=profile)
    assert only(a, "platelets", "seed000").recovery_day == 14
    assert only(a, "platelets", "seed001").recovery_day == 18  # seed 001's look-back is unchanged


# ---------------------------------------------------------------------------------------------------------------
# Hemoglobin
# ---------------------------------------------------------------------------------------------------------------


def test_hb_recovery_seed000_one_result_without_red_cells_in_7_days() -> None:
    hb = series("hemoglobin", [(3, 55.0), (5, 70.0), (11, 72.0), (12, 71.0), (13, 85.0), (14, 86.0)], "g/L")
    a = run(infusion(), hb, procedure(RBC_TRANSFUSION, 4))
    assert only(a, "hemoglobin", "seed000").recovery_day == 12  # days 5 and 11 are ≤ 7 days after day 4
    assert only(a, "hemoglobin", "seed001").recovery_day is None  # seed 001: < 80 from day 3; 3 results ≥ 80 not yet
    no_tx = run(infusion(), hb)
    assert only(no_tx, "hemoglobin", "seed000").recovery_day == 5


def test_hb_recovery_seed001_three_results() -> None:
    hb = series("hemoglobin", [(3, 70.0), (13, 85.0), (14, 86.0), (15, 84.0)], "g/L")
    a = run(infusion(), hb)
    assert only(a, "hemoglobin", "seed001").recovery_day == 13


def test_hb_recovery_in_mixed_units() -> None:
    resources = [
        obs("hemoglobin", 5.5, "g/dL", day=3),
        obs("hemoglobin_mmol", 3.8, "mmol/L", day=6),  # 61.2 g/L
    ]
    ep = only(run(infusion(), resources), "hemoglobin", "seed000")
    assert (ep.onset_day, ep.nadir_value, ep.recovery_day) == (3, 55.0, 6)


# ---------------------------------------------------------------------------------------------------------------
# New-onset: not already present at the last value before infusion
# ---------------------------------------------------------------------------------------------------------------


def test_baseline_severe_is_not_new_onset() -> None:
    pts = [(-2, 0.3), (1, 0.2), (5, 0.6), (6, 0.6), (7, 0.6)]
    ep = only(run(infusion(), series("neutrophils", pts, "10*9/L")), "neutrophils", "seed000")
    assert ep.new_onset is False
    assert (ep.onset_day, ep.nadir_value, ep.nadir_day, ep.recovery_day) == (-2, 0.2, 1, 5)
    assert ep.duration_days == 7  # documented choice: onset is the pre-infusion value's day


def test_only_the_last_pre_infusion_value_decides() -> None:
    pts = [(-6, 0.2), (-1, 1.8), (2, 0.3)]
    ep = only(run(infusion(), series("neutrophils", pts, "10*9/L")), "neutrophils", "seed000")
    assert (ep.new_onset, ep.onset_day) == (True, 2)


def test_baseline_below_one_profile_only() -> None:
    """ANC 0.8 before infusion: grade ≥ 3 already (seed 001) but not severe (seed 000)."""
    pts = [(-1, 0.8), (3, 0.3)]
    a = run(infusion(), series("neutrophils", pts, "10*9/L"))
    assert only(a, "neutrophils", "seed001").new_onset is False
    assert only(a, "neutrophils", "seed000").new_onset is True


def test_day_0_result_is_after_infusion() -> None:
    """Documented choice: a result dated day 0 is post-infusion (the infusion time of day is not compared)."""
    ep = only(run(infusion(), series("neutrophils", [(0, 0.3)], "10*9/L")), "neutrophils", "seed000")
    assert (ep.new_onset, ep.onset_day) == (True, 0)


def test_episode_json() -> None:
    pts = [(-2, 0.3), (1, 0.2), (5, 0.6), (6, 0.6), (7, 0.6)]
    out = run(infusion(), series("neutrophils", pts, "10*9/L")).to_json()["lineages"]["neutrophils"]
    assert out["episodes"][0] == {
        "profile": "seed000",
        "onset_day": -2,
        "nadir_value": 0.2,
        "nadir_day": 1,
        "recovery_day": 5,
        "duration_days": 7,
        "new_onset": False,
    }
    assert out["baseline"]["value"] == 0.3
    assert out["nadir"] == {"value": 0.2, "day": 1}


def test_no_episodes_for_wbc_and_lymphocytes() -> None:
    a = run(infusion(), series("leukocytes", [(2, 0.1)], "10*9/L"), series("lymphocytes", [(2, 0.05)], "10*9/L"))
    assert a.lineages["leukocytes"].episodes == [] and a.lineages["lymphocytes"].episodes == []


def test_mixed_offsets_never_put_recovery_before_onset() -> None:
    """07:00+10:00 on the 11th (day 10) is 21:00Z on the 10th, before 23:00−05:00 on the 10th (day 9) in time. Episodes
    read results in the order of their days, so the day-9 value cannot start a recovery of a day-10 onset."""
    a = run(
        infusion(),
        obs("neutrophils", 0.2, "10*9/L", when="2024-03-11T07:00:00+10:00"),  # day 10
        obs("neutrophils", 0.6, "10*9/L", when="2024-03-10T23:00:00-05:00"),  # day 9
        series("neutrophils", [(11, 0.6), (12, 0.6)], "10*9/L"),
    )
    ep = only(a, "neutrophils", "seed000")
    assert (ep.onset_day, ep.recovery_day) == (10, None)
    a = run(
        infusion(),
        obs("neutrophils", 0.2, "10*9/L", when="2024-03-11T07:00:00+10:00"),
        obs("neutrophils", 0.6, "10*9/L", when="2024-03-10T23:00:00-05:00"),
        series("neutrophils", [(11, 0.6), (12, 0.6), (13, 0.6)], "10*9/L"),
    )
    ep = only(a, "neutrophils", "seed000")
    assert (ep.onset_day, ep.recovery_day, ep.duration_days) == (10, 11, 1)
