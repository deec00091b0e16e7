"""The simulator's own ground-truth rules (clinical-reference §3), on hand-made series at their edges."""

from __future__ import annotations

from collections.abc import Sequence

from cds_cyto.simulate.params import PROFILES, Lineage
from cds_cyto.simulate.truth import (
    EpisodeTruth,
    LabPoint,
    episodes_for,
    lineage_truth,
    not_recovered_day28,
    pht_day28,
)

SN = PROFILES["seed000"]["neutrophils"]  # < 0.5, 3 results, G-CSF does not block
SA = PROFILES["seed000"]["hemoglobin"]  # < 60, 1 result, red cells block 7 days
ST = PROFILES["seed000"]["platelets"]  # < 20, 3 results, platelets block 7 days


def series(*pairs: tuple[int, float], minute: int = 420) -> list[LabPoint]:
    return [(day, minute, value) for day, value in pairs]


def only(points: list[LabPoint], rule=SN, blocking: tuple[int, ...] = ()) -> EpisodeTruth:  # type: ignore[no-untyped-def]
    truth = episodes_for(points, rule, blocking)
    assert len(truth.episodes) == 1, truth.episodes
    return truth.episodes[0]


def test_a_value_at_the_threshold_is_not_below() -> None:
    truth = episodes_for(series((-1, 2.0), (1, 0.5), (2, 0.5)), SN, ())
    assert truth.episodes == ()
    assert truth.below_after_infusion is False


def test_onset_nadir_and_recovery_on_three_result_days_not_calendar_days() -> None:
    ep = only(series((-1, 2.0), (2, 0.4), (3, 0.1), (4, 0.3), (5, 0.6), (6, 0.4), (7, 0.7), (9, 0.8), (12, 0.9)))
    assert (ep.onset_day, ep.nadir_value, ep.nadir_day) == (2, 0.1, 3)
    assert (ep.recovery_day, ep.duration_days, ep.new_onset) == (7, 5, True)


def test_a_result_below_ends_a_recovery_run() -> None:
    below_in_the_evening = (4, 1100, 0.45)  # ends the run begun on day 3
    points = sorted(
        [*series((-1, 2.0), (2, 0.3), (3, 0.6), (4, 0.7), (5, 0.8), (6, 0.9), (7, 1.0)), below_in_the_evening]
    )
    assert only(points).recovery_day == 5


def test_a_run_spans_different_days_and_a_later_fall_that_day_starts_a_new_episode() -> None:
    points = [
        (-1, 420, 2.0),
        (2, 390, 0.3),
        (3, 390, 0.6),
        (3, 1110, 0.6),
        (4, 390, 0.7),
        (4, 1110, 0.8),
        (5, 390, 0.6),
        (5, 1110, 0.4),
        (6, 390, 0.3),
        (7, 390, 0.6),
    ]
    eps = episodes_for(points, SN, ()).episodes
    assert [(e.onset_day, e.nadir_day, e.recovery_day) for e in eps] == [(2, 2, 3), (5, 6, None)]


def test_the_nadir_is_the_first_day_of_the_lowest_value() -> None:
    ep = only(series((-1, 2.0), (2, 0.2), (3, 0.1), (4, 0.1), (5, 0.6), (6, 0.6), (7, 0.6)))
    assert (ep.nadir_value, ep.nadir_day) == (0.1, 3)


def test_platelet_transfusion_blocks_recovery_for_seven_days() -> None:
    points = series((-1, 80.0), (8, 10.0), *[(d, 30.0) for d in range(9, 21)])
    assert only(points, ST, blocking=(10,)).recovery_day == 18  # 18 - 7 = 11 > 10
    assert only(points, ST, blocking=()).recovery_day == 9


def test_a_transfusion_during_the_run_blocks_it() -> None:
    points = series((-1, 80.0), (8, 10.0), *[(d, 30.0) for d in range(9, 30)])
    assert only(points, ST, blocking=(11,)).recovery_day == 19


def test_hemoglobin_seed000_recovers_on_one_result_without_red_cells() -> None:
    points = series((-1, 90.0), (5, 55.0), (6, 62.0), (7, 58.0), (20, 65.0))
    eps = episodes_for(points, SA, (5,)).episodes
    assert [(e.onset_day, e.recovery_day) for e in eps] == [(5, 20)]  # day 6 is within 7 days of the transfusion
    eps = episodes_for(points, SA, ()).episodes
    assert [(e.onset_day, e.recovery_day) for e in eps] == [(5, 6), (7, 20)]
    assert all(e.new_onset for e in eps)


def test_gcsf_blocks_seed001_neutrophil_recovery_but_not_seed000() -> None:
    anc = series((-1, 3.0), (4, 0.4), *[(d, 1.5) for d in range(6, 20)])
    full = series(*[(d, 100.0) for d in range(-1, 20)])
    truth = lineage_truth({"neutrophils": anc, "hemoglobin": full, "platelets": full}, {"gcsf": [6, 7, 8]})
    assert [e.recovery_day for e in truth["seed001"]["neutrophils"].episodes] == [16]  # 16 - 7 = 9 > 8
    assert [e.recovery_day for e in truth["seed000"]["neutrophils"].episodes] == [6]  # irrespective of G-CSF


def test_present_before_infusion_is_not_new_onset_and_starts_at_the_last_value_before() -> None:
    truth = episodes_for(series((-7, 0.6), (-3, 0.3), (-1, 0.2), (0, 0.1), (1, 0.7), (2, 0.7), (3, 0.7)), SN, ())
    assert truth.severe_before_infusion is True
    ep = truth.episodes[0]
    assert (ep.onset_day, ep.nadir_value, ep.nadir_day, ep.recovery_day, ep.new_onset) == (-1, 0.1, 0, 1, False)


def test_a_day0_result_counts_as_after_infusion_whatever_its_time() -> None:
    truth = episodes_for([(-1, 420, 0.8), (0, 390, 0.3), (0, 1110, 0.6)], SN, ())
    assert truth.severe_before_infusion is False
    assert truth.episodes[0].onset_day == 0 and truth.episodes[0].new_onset is True


def test_without_results_before_infusion_new_onset_is_unknown() -> None:
    truth = episodes_for(series((1, 0.3), (2, 0.3)), SN, ())
    assert truth.severe_before_infusion is None
    assert truth.episodes[0].new_onset is None
    assert truth.episodes[0].recovery_day is None


def test_pht_day28_takes_the_closest_result_day_and_the_earlier_of_two() -> None:
    ok: dict[Lineage, Sequence[LabPoint]] = {
        "neutrophils": series((28, 1.0)),
        "hemoglobin": series((28, 90.0)),
        "platelets": series((28, 50.0)),
    }
    assert pht_day28(ok, 100) is False
    tie: dict[Lineage, Sequence[LabPoint]] = {**ok, "platelets": series((27, 15.0), (29, 50.0))}
    assert pht_day28(tie, 100) is True
    closer: dict[Lineage, Sequence[LabPoint]] = {**ok, "platelets": series((26, 15.0), (29, 50.0))}
    assert pht_day28(closer, 100) is False
    missing: dict[Lineage, Sequence[LabPoint]] = {**ok, "hemoglobin": series((24, 90.0), (31, 90.0))}
    assert pht_day28(missing, 100) is None
    assert pht_day28({**missing, "neutrophils": series((28, 0.2))}, 100) is True
    early: dict[Lineage, Sequence[LabPoint]] = {
        k: [p for p in v if p[0] <= 27] + series((27, 1.0 if k == "neutrophils" else 90.0)) for k, v in ok.items()
    }
    assert pht_day28(early, 27) is None  # day 28 could still come


def test_not_recovered_at_day28() -> None:
    def verdict(anc: list[LabPoint]) -> bool | None:
        full = [(d, 420, 100.0) for d in range(-1, 40)]
        truth = lineage_truth({"neutrophils": anc, "hemoglobin": full, "platelets": full}, {})
        return not_recovered_day28(truth["seed001"], max(d for d, _, _ in anc))

    base = [(-1, 3.0), (5, 0.5)]
    assert verdict(series(*base, (28, 1.2), (29, 1.2), (30, 1.2), (40, 1.2))) is False  # recovery day 28
    assert verdict(series(*base, (29, 1.2), (30, 1.2), (31, 1.2), (40, 1.2))) is True  # recovery day 29
    assert verdict(series(*base, (20, 0.5), (60, 0.5))) is True  # never recovered
    assert verdict(series(*base, (25, 0.5))) is None  # the data end before day 28
    assert verdict(series(*base, (27, 1.2), (28, 1.2))) is None  # a run begun by day 28 may still complete
    assert verdict(series((-1, 3.0), (10, 2.0), (29, 0.5), (40, 2.0))) is False  # onset after day 28
    assert verdict(series((-1, 3.0), (29, 0.5), (40, 2.0))) is None  # no result on days 0-28
