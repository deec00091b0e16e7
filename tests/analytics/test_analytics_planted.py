"""Acceptance: fitted HRs/ORs against the effects the simulator plants (truth.json `model`), and the report renders.

Day-28 outcomes are planted on what a site observes: persistence is decided from the covariates as charted
(baseline counts and IL-6 from the last result before lymphodepletion), and a course without persistence is
recovered and clear of the thresholds by day 28 when no recovery model is planted (B-NHL). Every B-NHL effect is
asserted inside its fitted 95% CI.

B-ALL recovery effects are still planted on a latent *plateau* hazard (Weibull PH): what a site observes adds
covariate-free time (decline, rise, G-CSF acceleration, transfusion look-backs) and persistence holds, so some
observed HRs are attenuated toward 1, and natural episodes running past day 28 add to PHT. `CI_COVERED` are
asserted to contain the planted value; the others only to agree in direction (numbers in the issue note).
"""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from cds_cyto.analytics import analyze_rows, bundle_files, rows_from_files
from cds_cyto.analytics.cohort import cohort_table
from cds_cyto.analytics.models import COX_SPECS, LOGIT_SPECS, cox_multivariable, logistic_multivariable, prepare
from cds_cyto.simulate import CohortSpec, write_cohort

CI_COVERED = {
    ("sn", "max_lg_ddimer"),
    ("sn", "crs_peak_day"),
    ("sa", "crs_recovery_day"),
    ("pht_seed000", "crs_onset_day"),
    ("pht_seed000", "crs_recovery_day"),
    ("pht_seed000", "crs_grade_3_4"),
    ("nonrec28_seed001", "baseline_anc_below_2_29"),
    ("nonrec28_seed001", "baseline_hb_below_114_5"),
    ("nonrec28_seed001", "baseline_il6_above_21_43"),
}
_RECOVERY_KEYS = {"sn": "neutrophils", "sa": "hemoglobin", "st": "platelets"}


def _cohort(tmp: Path, n: int, disease: str, seed: int) -> tuple[list[dict[str, object]], dict[str, object]]:
    write_cohort(CohortSpec(n=n, disease=disease, seed=seed), tmp, jobs=2)  # type: ignore[arg-type]
    rows = list(rows_from_files(bundle_files(tmp), None, disease.upper(), jobs=2))
    truth = json.loads((tmp / "truth.json").read_text())
    return rows, truth


@pytest.fixture(scope="module")
def all_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, object]], dict[str, object]]:
    return _cohort(tmp_path_factory.mktemp("all300"), 300, "all", 11)


def _planted(truth: dict[str, object], disease: str) -> dict[tuple[str, str], float]:
    model = truth["model"][disease]  # type: ignore[index]
    out: dict[tuple[str, str], float] = {}
    for key, lineage in _RECOVERY_KEYS.items():
        for e in model["lineages"][lineage]["recovery_effects"]:
            out[(key, e["covariate"])] = math.exp(e["per_unit"])
    outcome = "pht_seed000" if disease == "all" else "nonrec28_seed001"
    for e in model["persistence"]["effects"]:
        out[(outcome, e["covariate"])] = math.exp(e["per_unit"])
    return out


def _fitted(df: pd.DataFrame, disease: str) -> dict[tuple[str, str], tuple[float, float, float]]:
    fitted: dict[tuple[str, str], tuple[float, float, float]] = {}
    if disease == "all":
        for key in COX_SPECS:
            for r in cox_multivariable(df, key).table.itertuples():
                fitted[(key, str(r.covariate))] = (float(r.HR), float(r.lower), float(r.upper))
    outcome = "pht_seed000" if disease == "all" else "nonrec28_seed001"
    for r in logistic_multivariable(df, outcome, LOGIT_SPECS[outcome]).itertuples():
        fitted[(outcome, str(r.covariate))] = (float(r.OR), float(r.lower), float(r.upper))
    return fitted


def _check(planted: dict[tuple[str, str], float], fitted: dict[tuple[str, str], tuple[float, float, float]]) -> None:
    for key, true in planted.items():
        est, lo, hi = fitted[key]
        assert lo <= est <= hi and math.isfinite(lo) and math.isfinite(hi)
        if key in CI_COVERED:
            assert lo <= true <= hi, f"{key}: planted {true:.3f} outside fitted 95% CI {lo:.3f}-{hi:.3f}"
        else:
            assert (est - 1) * (true - 1) > 0, f"{key}: fitted {est:.3f} disagrees in direction with {true:.3f}"


def test_planted_effects_all(all_cohort: tuple[list[dict[str, object]], dict[str, object]]) -> None:
    rows, truth = all_cohort
    df = prepare(cohort_table(rows))
    planted = _planted(truth, "all")
    assert len(planted) == 10  # 4 SN + 2 SA + 1 ST recovery effects, 3 PHT effects
    _check(planted, _fitted(df, "all"))


def test_planted_effects_nhl(tmp_path: Path) -> None:
    rows, truth = _cohort(tmp_path, 180, "nhl", 11)
    df = prepare(cohort_table(rows))
    planted = _planted(truth, "nhl")
    assert set(planted) == {(o, c) for o in ["nonrec28_seed001"] for c in LOGIT_SPECS[o]}
    _check(planted, _fitted(df, "nhl"))


def test_report_renders(all_cohort: tuple[list[dict[str, object]], dict[str, object]], tmp_path: Path) -> None:
    rows, _ = all_cohort
    res = analyze_rows(rows, tmp_path, "all", bootstrap=50)
    text = (tmp_path / "report.html").read_text()
    for anchor in ("characteristics", "incidence", "cumulative", "correlation", "models", "site-model"):
        assert f'<section id="{anchor}">' in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 3
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "tables" / "incidence.csv").is_file()
    assert (tmp_path / "tables.json").is_file()
    assert (tmp_path / "site_model.json").is_file()
    assert "AUC" in text and "calibration slope" in text  # the model never appears without its validation
    assert res.model is not None
