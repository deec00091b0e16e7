"""Calibration at n = 1000 per disease: every published target within its stated tolerance.

Runs in the normal suite: 2 x 1000 patients without FHIR output take about 10 s on two workers. The cohort is
fixed by its seed, so the test is deterministic; the tolerances (params.Target) are about 2.3 binomial standard
errors at the denominators below, so a model that is right on average passes at any seed with high probability.
"""

from __future__ import annotations

import math
import time

import pytest

from cds_cyto.simulate import TARGETS, CalibrationReport, calibration_report, cohort_truths
from cds_cyto.simulate.mess import plausible_bounds


@pytest.fixture(scope="module")
def report() -> CalibrationReport:
    started = time.perf_counter()
    result = calibration_report(n=1000, seed=20261122, jobs=2)
    print(f"\ncalibration n=1000 per disease: {time.perf_counter() - started:.1f} s\n{result.to_text()}")
    return result


def test_every_target_is_within_its_tolerance(report: CalibrationReport) -> None:
    failed = [(r.target.key, r.target.published, r.simulated) for r in report.results if not r.passed]
    assert failed == []
    assert {r.target.key for r in report.results} == {t.key for t in TARGETS}


def test_the_seeds_risk_factors_move_outcomes_the_published_way(report: CalibrationReport) -> None:
    failed = [(d.label, d.exposed, d.unexposed) for d in report.directions if not d.passed]
    assert failed == []
    assert len(report.directions) == 8


def test_proportion_tolerances_are_two_to_three_standard_errors(report: CalibrationReport) -> None:
    for r in report.results:
        if r.target.kind != "proportion":
            continue
        p = r.target.published
        se = math.sqrt(p * (1.0 - p) / r.n)
        assert 1.8 <= r.target.tolerance / se <= 3.5, (r.target.key, r.n, round(r.target.tolerance / se, 2))


def test_latent_marker_peaks_stay_inside_plausible_bounds() -> None:
    for disease in ("all", "nhl"):
        for truth in cohort_truths(100, disease, seed=3):
            for marker, course in truth["latent"]["markers"].items():
                assert course["peak"] * 1.5 < plausible_bounds(marker)[1], (marker, course)
