"""Issue 16 item 5, the generator's shape beside seed 000 (in kind, not in number): peak ferritin falls with the
nadirs (seed 000 Figure 3B, E, H: negative Spearman), PHT occurs without CRS but less than with grade 3-4 CRS, some
new-onset episodes are not recovered by day +100 (censored) and some patients die early (the competing risk)."""

from __future__ import annotations

from typing import Any

import pytest
from scipy.stats import spearmanr

from cds_cyto.simulate.calibration import cohort_truths


@pytest.fixture(scope="module")
def truths() -> list[dict[str, Any]]:
    return cohort_truths(600, "all", 11, jobs=2)


@pytest.mark.parametrize("lineage", ["neutrophils", "hemoglobin", "platelets"])
def test_peak_ferritin_correlates_negatively_with_the_nadir(truths: list[dict[str, Any]], lineage: str) -> None:
    pairs = [
        (t["max_lg_markers_day0_28"]["ferritin"], t["lineages"][lineage]["nadir_ld_to_day28"]["value"])
        for t in truths
        if t["max_lg_markers_day0_28"]["ferritin"] is not None and t["lineages"][lineage]["nadir_ld_to_day28"]
    ]
    rho, p = spearmanr(*zip(*pairs, strict=True))
    assert rho < 0 and p < 0.01


def test_pht_occurs_without_crs_but_less_than_with_severe_crs(truths: list[dict[str, Any]]) -> None:
    def rate(grades: range) -> float:
        known = [t["pht_day28"]["seed000"] for t in truths if t["crs"]["max_grade"] in grades]
        known = [k for k in known if k is not None]
        return float(sum(known)) / len(known)

    assert 0 < rate(range(0, 1)) < rate(range(3, 5))


def test_some_episodes_are_censored_and_some_patients_die_early(truths: list[dict[str, Any]]) -> None:
    eps = [e for t in truths for e in t["lineages"]["neutrophils"]["seed000"]["episodes"] if e["new_onset"]]
    assert any(e["recovery_day"] is None for e in eps)
    deaths = [t["death_day"] for t in truths if t["death_day"] is not None]
    assert deaths and all(d <= 28 for d in deaths)
