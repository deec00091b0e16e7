"""The site model to TRIPOD: participant flow, bootstrap optimism and shrinkage, Brier, decision curve, and the
external validation of a saved model (`analyze --validate`, through the real entry point)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cds_cyto.analytics import fit_site_model, load_model, save_model
from cds_cyto.analytics.firth import fit_logit
from cds_cyto.analytics.tripod import (
    bootstrap_validation,
    brier,
    calibration_fit,
    decision_curve,
    external_validation,
    participant_flow,
    sigmoid,
)
from tests.support.cli import assert_one_line_error, run_cds_cyto

FEATS = ["baseline_neutrophils", "crs_grade"]


def _cohort(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """A planted logistic model of non-recovery: ln ANC −1.2, CRS grade +0.5; `shift` moves the intercept."""
    rng = np.random.default_rng(seed)
    anc = np.exp(rng.normal(0.8, 0.6, n))
    grade = rng.integers(0, 5, n).astype(float)
    eta = -2.0 - 1.2 * np.log(anc) + 0.5 * grade + shift
    y = (rng.random(n) < sigmoid(eta)).astype(float)
    return pd.DataFrame({"baseline_neutrophils": anc, "crs_grade": grade, "nonrec28_seed001": y})


def _analysis_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The cohort as `analyze` rows carry it: `input_*` values and `why_*` reasons."""
    d = pd.DataFrame({"nonrec28_seed001": frame["nonrec28_seed001"]})
    for f in FEATS:
        d[f"input_{f}"] = frame[f]
        d[f"why_{f}"] = ""
    return d


@pytest.mark.parametrize(
    ("threshold", "acted"),
    [(0.19, 4), (0.2, 4), (0.21, 3), (0.5, 2), (0.51, 1)],  # acting at "at least the threshold"
)
def test_decision_curve_counts_at_the_threshold(threshold: float, acted: int) -> None:
    y = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    p = np.array([0.9, 0.5, 0.2, 0.2, 0.1])
    p[3] = 0.25  # four at or above 0.2, three above it
    row = decision_curve(y, p, (threshold,)).iloc[0]
    tp = float(((p >= threshold) & (y == 1)).sum())
    fp = float(((p >= threshold) & (y == 0)).sum())
    assert tp + fp == acted
    w = threshold / (1 - threshold)
    assert row["net_benefit_model"] == pytest.approx(tp / 5 - fp / 5 * w)
    assert row["net_benefit_all"] == pytest.approx(0.4 - 0.6 * w) and row["net_benefit_none"] == 0.0


def test_brier_and_calibration_of_a_known_model() -> None:
    assert brier(np.array([1.0, 0.0]), np.array([0.8, 0.4])) == pytest.approx((0.04 + 0.16) / 2)
    d = _cohort(4000, 1)
    p = sigmoid(-2.0 - 1.2 * np.log(d["baseline_neutrophils"].to_numpy()) + 0.5 * d["crs_grade"].to_numpy())
    slope, citl = calibration_fit(d["nonrec28_seed001"].to_numpy(), p)
    assert slope == pytest.approx(1.0, abs=0.12) and citl == pytest.approx(0.0, abs=0.12)


def test_participant_flow_groups_reasons_and_gives_each_group_its_outcome_rate() -> None:
    d = _analysis_table(_cohort(10, 2).assign(nonrec28_seed001=[1.0, 0, 0, 0, 1, 1, 1, 0, math.nan, 0]))
    late = "CRS from day +3 had not abated by the day +14 landmark: the model does not apply to this patient"
    for i, text in ((4, late), (5, late.replace("+3", "+5")), (6, late.replace("+3", "+11"))):
        d.loc[d.index[i], "input_crs_grade"] = math.nan
        d.loc[d.index[i], "why_crs_grade"] = text
    flow = participant_flow(d, "nonrec28_seed001", FEATS).set_index("reason")
    crs = flow.loc["crs_grade: " + late.replace(" from day +3", "")]  # no "day +n" placeholder in the report
    assert crs["n"] == 3 and crs["outcome rate"] == "100% (3/3)"  # the day-+14 landmark is kept, the onset is not
    assert flow.loc["outcome (nonrec28_seed001) not determinable from the record", "n"] == 1
    analysed = flow[flow["step"] == "analysed"].iloc[0]
    assert analysed["n"] == 6 and analysed["outcome rate"] == "17% (1/6)"
    assert flow[flow["step"] == "cohort"].iloc[0]["n"] == 10


def test_bootstrap_finds_the_optimism_of_an_over_fitted_model() -> None:
    """Twelve noise covariates on 120 patients: the apparent AUC is optimistic, the shrinkage factor below 1; with
    one strong predictor on 2000 patients there is next to no optimism."""
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(120), rng.normal(0, 1, (120, 12))])
    y = (rng.random(120) < 0.3).astype(float)
    boot = bootstrap_validation(x, y, fit_logit(x, y).beta, 5, 100, rng)
    assert boot.auc_optimism > 0.05 and boot.auc_corrected < boot.auc_apparent
    assert boot.brier_corrected > boot.brier_apparent and boot.slope_corrected < 0.8
    big = np.column_stack([np.ones(2000), rng.normal(0, 1, 2000)])
    yb = (rng.random(2000) < sigmoid(big @ [-1.0, 1.5])).astype(float)
    strong = bootstrap_validation(big, yb, fit_logit(big, yb).beta, 5, 50, rng)
    assert abs(strong.auc_optimism) < 0.01 and strong.slope_corrected == pytest.approx(1.0, abs=0.05)
    lo, hi = strong.auc_cv_ci95
    assert lo < strong.auc_corrected < hi


def test_shrinkage_scales_the_coefficients_and_keeps_the_mean_risk(tmp_path: Path) -> None:
    d = _cohort(300, 4)
    plain = fit_site_model(d, "nonrec28_seed001", FEATS, bootstrap=60)
    shrunk = fit_site_model(d, "nonrec28_seed001", FEATS, bootstrap=60, shrink=True)
    s = shrunk.validation["shrinkage_factor"]
    assert s == pytest.approx(plain.validation["calibration_slope_optimism_corrected"]) and 0 < s <= 1
    for f in FEATS:
        assert shrunk.coefficients[f] == pytest.approx(plain.coefficients[f] * s)
    mean_risk = np.mean([shrunk.predict(dict(zip(FEATS, map(float, r), strict=True))) for r in d[FEATS].to_numpy()])
    assert mean_risk == pytest.approx(d["nonrec28_seed001"].mean(), abs=1e-6)  # the refitted intercept
    path = tmp_path / "m.json"
    save_model(shrunk, path)
    back = load_model(path).validation  # the TRIPOD figures survive the artifact
    for key in ("brier_cv", "auc_optimism_corrected", "calibration_slope_optimism_corrected", "shrinkage_factor"):
        assert back[key] == pytest.approx(shrunk.validation[key])


def test_external_validation_recovers_a_shifted_intercept() -> None:
    fitted = fit_site_model(_cohort(1500, 5), "nonrec28_seed001", FEATS, bootstrap=20)
    # the generator's own model, so the validation cohort's only difference is the planted shift
    model = replace(fitted, intercept=-2.0, coefficients={"baseline_neutrophils": -1.2, "crs_grade": 0.5})
    same = external_validation(model, _analysis_table(_cohort(3000, 6)))
    shifted = external_validation(model, _analysis_table(_cohort(3000, 6, shift=1.0)))

    def ci(table: pd.DataFrame, measure: str) -> tuple[float, float, float]:
        row = table.set_index("measure").loc[measure]
        text = str(row["95% CI"]).split(" (")[0]
        lo, hi = (float(v) for v in (text.split(" to ") if " to " in text else text.split("-")))
        return float(str(row["value"])), lo, hi

    citl = "calibration-in-the-large (intercept, offset = linear predictor)"
    slope, lo, hi = ci(same.table, "calibration slope")
    assert lo < 1.0 < hi and lo < slope < hi
    _, lo, hi = ci(same.table, citl)
    assert lo < 0.0 < hi
    _, lo, hi = ci(shifted.table, citl)
    assert lo < 1.0 < hi and lo > 0.5  # the planted shift of the intercept, recovered within its CI
    moved = shifted.table.set_index("measure")["value"]
    assert float(str(moved["observed / expected events"])) > 1.3
    assert same.n + int(str(same.flow.set_index("step").loc["excluded (all)", "n"])) == 3000  # out of range: excluded


def test_analyze_validate_through_the_entry_point(tmp_path: Path) -> None:
    dev, new = tmp_path / "dev", tmp_path / "new"
    for seed, where in (("3", dev), ("4", new)):
        sim = run_cds_cyto(tmp_path, "simulate", "--n", "90", "--seed", seed, "--out", str(where), "--jobs", "2")
        assert sim.returncode == 0, sim.stderr
    first = run_cds_cyto(tmp_path, "analyze", "--bundles", str(dev), "--out", str(tmp_path / "r1"), "--jobs", "2",
                         timeout=400)  # fmt: skip
    assert first.returncode == 0, first.stderr
    model = tmp_path / "r1" / "site_model.json"
    tables = json.loads((tmp_path / "r1" / "tables.json").read_text())["tables"]
    assert {r["step"] for r in tables["site_model_participant_flow"]} >= {"cohort", "analysed"}
    assert [r["measure"] for r in tables["site_model_validation"]][:2] == ["AUC", "Brier score"]
    out = tmp_path / "r2"
    second = run_cds_cyto(tmp_path, "analyze", "--bundles", str(new), "--out", str(out), "--jobs", "2",
                          "--validate", str(model), "--shrink", timeout=400)  # fmt: skip
    assert second.returncode == 0, second.stderr
    doc = json.loads((out / "tables.json").read_text())
    measures = {r["measure"] for r in doc["tables"]["external_validation"]}
    assert {"AUC", "Brier score", "calibration slope", "observed / expected events"} <= measures
    assert doc["tables"]["external_validation_decision_curve"]
    assert doc["manifest"]["validated_model_sha256"] == load_model(model).sha256
    assert "--validate" in doc["manifest"]["command"] and "--shrink" in doc["manifest"]["command"]
    captions = json.loads((out / "figures" / "captions.json").read_text())
    assert {"external_calibration", "external_decision_curve", "decision_curve", "calibration"} <= set(captions)
    assert "shrinkage_factor" in json.loads((out / "site_model.json").read_text())["validation"]
    html = (out / "report.html").read_text()
    assert 'id="external-validation"' in html and "External validation" in html
    # refusals are one line: another population's run, an unreadable file
    nhl = run_cds_cyto(tmp_path, "analyze", "--bundles", str(new), "--out", str(tmp_path / "r3"),
                       "--disease", "NHL", "--validate", str(model))  # fmt: skip
    assert_one_line_error(nhl, "--validate", "B-ALL", "NHL")
    (tmp_path / "bad.json").write_text("{}")
    bad = run_cds_cyto(tmp_path, "analyze", "--bundles", str(new), "--out", str(tmp_path / "r4"),
                       "--validate", str(tmp_path / "bad.json"))  # fmt: skip
    assert_one_line_error(bad, "--validate", "not a cds-cyto/site-model artifact")
