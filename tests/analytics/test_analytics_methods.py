"""Acceptance (issue 16, correct methods): each method on a cohort with a planted effect recovers it.

ROC direction from the data (a protective marker gets AUC > 0.5 and its cut-off on the right side), AUC with a DeLong
CI, the events-per-variable guard and the implausible-ratio warning, BH q-values, McNemar for paired proportions,
"no CRS" never coded as day 0, durations of cytopenia carried over from before infusion counted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from cds_cyto.analytics import analyze_rows, bundle_files, cohort_table, rows_from_files
from cds_cyto.analytics.regression import cox_multivariable, logistic_multivariable, prepare, youden_cutoff
from cds_cyto.analytics.stats import auc_delong, bh_qvalues, epv_verdict, mcnemar_paired
from cds_cyto.simulate import CohortSpec, write_cohort


@pytest.fixture(scope="module")
def nhl_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    tmp = tmp_path_factory.mktemp("nhl300")
    write_cohort(CohortSpec(n=300, disease="nhl", seed=7), tmp, jobs=2)
    return list(rows_from_files(bundle_files(tmp), None, "NHL", jobs=2))


def test_protective_marker_planted_cut_is_found_on_its_side() -> None:
    """Planted: below 21.43 the outcome is 4 times as likely (a marker protective when high)."""
    rng = np.random.default_rng(3)
    x = rng.lognormal(math.log(20), 0.9, 2000)
    y = (rng.random(2000) < np.where(x < 21.43, 0.6, 0.15)).astype(float)
    cut = youden_cutoff(pd.DataFrame({"x": x, "y": y}), "y", "x")
    assert cut["direction"] == "<="
    assert float(cut["auc"]) > 0.5 and float(cut["auc_lower"]) > 0.5
    assert abs(float(cut["cutoff"]) - 21.43) < 3.0


def test_risk_marker_keeps_its_direction() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, 1000)
    y = (rng.random(1000) < np.where(x > 0.5, 0.7, 0.2)).astype(float)
    cut = youden_cutoff(pd.DataFrame({"x": x, "y": y}), "y", "x")
    assert cut["direction"] == ">=" and abs(float(cut["cutoff"]) - 0.5) < 0.25


def test_generator_il6_is_protective_with_auc_above_half(nhl_rows: list[dict[str, object]]) -> None:
    """seed 001: baseline IL-6 > 21.43 protects from day-28 non-recovery (OR 0.107); the generator plants it."""
    df = prepare(cohort_table(nhl_rows))
    cut = youden_cutoff(df, "nonrec28_seed001", "baseline_il6", published_higher_is_risk=False)
    assert cut["direction"] == "<="
    assert float(cut["auc"]) > 0.5


@pytest.mark.parametrize("shift", [0.5, 1.0])
def test_delong_ci_covers_the_binormal_auc(shift: float) -> None:
    """Planted binormal AUC = Phi(shift / sqrt 2): the 95% CI covers it in about 95% of 200 replicates."""
    true = NormalDist().cdf(shift / math.sqrt(2))
    y = np.r_[np.ones(150), np.zeros(250)]
    covered = 0
    for rep in range(200):
        rng = np.random.default_rng(rep)
        auc = auc_delong(y, np.r_[rng.normal(shift, 1, 150), rng.normal(0, 1, 250)])
        covered += auc.lower <= true <= auc.upper
    assert 0.90 <= covered / 200 <= 0.99  # binomial SD at 95% over 200: 1.5 points


def _recovery_frame(n: int, events: int, covariates: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({f"c{i}": rng.normal(0, 1, n) for i in range(covariates)})
    d["sn_new"] = 1.0
    d["sn_duration"] = rng.integers(1, 30, n).astype(float)
    d["sn_recovered"] = 0.0
    d.loc[d.index[:events], "sn_recovered"] = 1.0
    return d


def test_cox_with_four_events_is_refused_not_printed() -> None:
    d = _recovery_frame(40, 4, 4, 1)
    res = cox_multivariable(d, "sn", ["c0", "c1", "c2", "c3"])
    assert res.table["HR"].isna().all()
    assert all("not estimated" in str(n) and "EPV" in str(n) for n in res.table["note"])
    assert set(res.table["method"]) == {"Cox proportional hazards (lifelines, Efron ties)"}


@pytest.mark.parametrize(
    ("events", "variables", "fit", "warn"),
    [(19, 4, False, True), (20, 4, True, True), (39, 4, True, True), (40, 4, True, False), (0, 1, False, True)],
)
def test_epv_boundaries(events: int, variables: int, fit: bool, warn: bool) -> None:
    v = epv_verdict(events, variables)
    assert v.fit is fit
    assert bool(v.note) is warn


def test_separation_prints_a_warning_beside_the_ratio() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 200)
    y = (x > 0.8).astype(float)  # the covariate separates the outcome completely
    d = pd.DataFrame({"x": x, "z": rng.normal(0, 1, 200), "y": y})
    table = logistic_multivariable(d, "y", ["x", "z"])
    row = table[table["covariate"] == "x"].iloc[0]
    assert "unstable" in str(row["note"])


def test_a_covariate_nobody_has_is_unavailable_not_an_error() -> None:
    d = _recovery_frame(120, 60, 2, 5)
    d["gone"] = math.nan
    res = cox_multivariable(d, "sn", ["c0", "c1", "gone"])
    gone = res.table[res.table["covariate"] == "gone"].iloc[0]
    assert "unavailable" in str(gone["note"]) and math.isnan(float(gone["HR"]))
    assert res.table[res.table["covariate"] == "c0"]["HR"].notna().all()
    only_gone = cox_multivariable(d, "sn", ["gone"])
    assert only_gone.table["HR"].isna().all()


def test_bh_qvalues_match_the_definition() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.20, math.nan])
    q = bh_qvalues(p)
    # sorted p 0.01, 0.03, 0.04, 0.20 (m = 4): q = min over k >= i of p_k * m / k
    assert np.allclose(q[:4], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20])
    assert math.isnan(q[4])


def test_mcnemar_counts_discordant_pairs_and_detects_a_planted_rise() -> None:
    rng = np.random.default_rng(9)
    before = (rng.random(200) < 0.1).astype(float)
    after = np.where(before == 1, 1.0, (rng.random(200) < 0.4).astype(float))
    res = mcnemar_paired(pd.Series(before), pd.Series(after))
    assert res["before_yes_after_no"] == 0
    assert res["before_no_after_yes"] == float(((before == 0) & (after == 1)).sum())
    assert res["p_mcnemar"] < 1e-6
    flat = mcnemar_paired(pd.Series(before), pd.Series(before))
    assert flat["p_mcnemar"] == 1.0


def test_no_crs_is_not_day_zero(nhl_rows: list[dict[str, object]]) -> None:
    df = prepare(cohort_table(nhl_rows))
    none = df[df["crs_grade"] == 0]
    assert len(none) > 10
    assert none[["crs_onset_day", "crs_peak_day", "crs_recovery_day"]].isna().all().all()
    assert df.loc[df["crs_grade"] >= 1, "crs_onset_day"].notna().all()


def test_cytopenia_carried_from_before_infusion_is_counted(nhl_rows: list[dict[str, object]]) -> None:
    df = cohort_table(nhl_rows)
    carried = df[df["g3_sn_episode"] == "pre-existing"]
    assert len(carried) > 0
    assert (carried["g3_sn_duration"] > 0).all()  # not 'no cytopenia'
    assert (df.loc[df["g3_sn_episode"] == "none", "g3_sn_duration"] == 0).all()


def test_nhl_report_compares_with_seed001_only(nhl_rows: list[dict[str, object]], tmp_path: Path) -> None:
    res = analyze_rows(nhl_rows, tmp_path, "nhl", bootstrap=20)
    sources = list(res.tables["published_comparison"]["source"])
    assert sources and all("seed 001" in s and "seed 000" not in s for s in sources)
    text = (tmp_path / "report.html").read_text()
    assert text.count('class="reproduces"') >= 8
    assert "seed 001 (B-NHL, n = 63)" in text
    for name in ("spearman", "logistic_univariable_nonrec28_seed001", "cox_univariable_sn"):
        assert "q_bh" in res.tables[name].columns
    assert (res.tables["logistic_multivariable_nonrec28_seed001"]["unit"] == "1 = yes").all()
    assert res.tables["logistic_multivariable_nonrec28_seed001"]["published"].str.contains("seed 001").all()
    assert "published" not in res.tables["cox_multivariable_sn"]  # seed 000's HRs are a B-ALL cohort's
    assert "published T1/T2/T3 %" not in res.tables["fig1b_timepoints"]
    cuts = res.tables["roc_cutoffs_nonrec28"].set_index("predictor")
    assert cuts.loc["baseline_il6", "direction"] == "<="
    assert cuts.loc["baseline_il6", "published cut-off (seed 001)"] == 21.43
    # tables.json carries every p-value at full precision, as the CSV does (a tiny p is not written as 0.0)
    payload = json.loads((tmp_path / "tables.json").read_text())["tables"]
    for name in ("temporal_characteristics", "fig4_duration_by_crs"):
        for written, p in zip(payload[name], res.tables[name]["Kruskal-Wallis p"], strict=True):
            assert written["Kruskal-Wallis p"] == (None if math.isnan(p) else p)
            assert written["Kruskal-Wallis p"] != 0.0


def test_every_model_covariate_has_its_unit() -> None:
    from cds_cyto.analytics.regression import COX_SPECS, LOGIT_SPECS, SEED001_SCREEN, TABLE_I_SPEC
    from cds_cyto.analytics.units import covariate_unit
    from cds_cyto.core.profile import default_profile

    profile = default_profile()
    names = {c for spec in (*COX_SPECS.values(), *LOGIT_SPECS.values()) for c in spec}
    names |= set(SEED001_SCREEN) | set(TABLE_I_SPEC)
    missing = sorted(n for n in names if not covariate_unit(n, profile))
    assert missing == []
    assert covariate_unit("baseline_hemoglobin", profile) == "g/L"
    assert covariate_unit("max_lg_ddimer", profile) == "log10 ug/mL{FEU}"


def test_seed001_any_grade_cytopenia_before_and_after(nhl_rows: list[dict[str, object]]) -> None:
    """seed 001 Results 'Occurrence of cytopenia': any CTCAE grade (below the LLN) at baseline and after infusion; a
    grade >= 3 result is also any grade, and the B-NHL comparison puts the published 32/63 beside it."""
    from cds_cyto.analytics.incidence import published_comparison

    df = prepare(cohort_table(nhl_rows))
    for key in ("sn", "sa", "st"):
        before, after = df[f"ctcae1_{key}_baseline"], df[f"ctcae1_{key}_after"]
        assert before.notna().mean() > 0.9 and after.notna().mean() > 0.9  # the simulator charts reference ranges
        assert (after[df[f"g3_{key}_after"] == 1] == 1).all()
    assert df["ctcae1_sn_after"].mean() > df["ctcae1_sn_baseline"].mean()
    table = published_comparison(df, "nhl").set_index("measure")
    row = table.loc["any-grade cytopenia of any lineage at baseline"]
    assert row["published %"] == 50.79 and 0 < row["this cohort %"] < 100
