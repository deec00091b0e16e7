"""Issue 16's generator: the planted CRS-peak covariate is the daily course's peak (after onset for some patients),
B-ALL neutrophils are re-tuned for early deaths, and the committed fixture's generator (no early death) is unchanged."""

from __future__ import annotations

from cds_cyto.simulate import CohortSpec, model_for
from cds_cyto.simulate.params import ALL_SN_DEPTH_WITH_EARLY_DEATH
from tests.simulate.conftest import simulate


def test_the_planted_peak_is_the_course_peak_and_some_peaks_follow_onset() -> None:
    patients = [p for p in simulate(CohortSpec(n=60, disease="all", seed=3, mess="none")) if p.latent.crs.grade]
    assert patients
    for p in patients:
        crs = p.latent.crs
        assert crs.onset_day is not None
        peak = int(p.course.covariates["crs_peak_day"])
        assert crs.daily_grades[peak - crs.onset_day] == crs.grade  # the first day at the maximum daily grade
        assert all(g < crs.grade for g in crs.daily_grades[: peak - crs.onset_day])
        assert peak == (crs.peak_day if crs.grade > 1 else crs.onset_day)
    later = [p for p in patients if p.course.covariates["crs_peak_day"] > (p.latent.crs.onset_day or 0)]
    assert 0.2 * len(patients) <= len(later) < len(patients)  # a real course for some, not all


def test_the_committed_fixtures_generator_keeps_onset_as_peak_and_its_depth() -> None:
    spec = CohortSpec(n=60, disease="all", seed=3, mess="none", early_death=False)
    patients = [p for p in simulate(spec) if p.latent.crs.grade]
    assert all(p.course.covariates["crs_peak_day"] == p.latent.crs.onset_day for p in patients)
    assert model_for("all", retuned=False).lineages["neutrophils"].depth_median == 2.028
    assert model_for("all").lineages["neutrophils"].depth_median == ALL_SN_DEPTH_WITH_EARLY_DEATH
    assert model_for("nhl") == model_for("nhl", retuned=False)  # B-NHL is not re-tuned
