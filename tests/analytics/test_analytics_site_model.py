"""The site model artifact: fit, save, load, predict; refusals; and the per-patient timeline plot."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cds_cyto.analytics import SiteModelError, fit_site_model, load_model, save_model
from cds_cyto.analytics.rows import bundle_files, cohort_table, rows_from_files
from cds_cyto.analytics.site_model_fit import input_frame
from cds_cyto.cli import main
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import load_profile

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cohort"


def _frame(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    anc = np.exp(rng.normal(0.8, 0.6, n))
    grade = rng.integers(0, 5, n).astype(float)
    eta = -1.0 - 1.2 * np.log(anc) + 0.5 * grade - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"baseline_neutrophils": anc, "crs_grade": grade, "nonrec28_seed001": y})


def test_fit_save_load_predict(tmp_path: Path) -> None:
    df = _frame()
    model = fit_site_model(df, "nonrec28_seed001", ["baseline_neutrophils", "crs_grade"], created=date(2026, 11, 22))
    assert model.coefficients["baseline_neutrophils"] == pytest.approx(-1.2, abs=0.45)
    assert model.coefficients["crs_grade"] == pytest.approx(0.5, abs=0.25)
    v = model.validation
    assert 0.6 < v["auc_cv"] < 0.95 and v["auc_cv_ci95"][0] < v["auc_cv"] < v["auc_cv_ci95"][1]
    assert 0.5 < v["calibration_slope"] < 1.5 and abs(v["calibration_intercept"]) < 0.5
    assert sum(row["n"] for row in v["calibration_table"]) == len(df)
    path = tmp_path / "m.json"
    save_model(model, path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "cds-cyto/site-model" and doc["version"] == 2 and doc["created"] == "2026-11-22"
    assert doc["training"]["n"] == 400 and len(doc["training"]["data_sha256"]) == 64
    assert {f["name"] for f in doc["features"]} == {"baseline_neutrophils", "crs_grade"}
    loaded = load_model(path)
    x = {"baseline_neutrophils": 1.5, "crs_grade": 3.0}
    eta = (
        model.intercept
        + model.coefficients["baseline_neutrophils"] * math.log(1.5)
        + 3 * model.coefficients["crs_grade"]
    )
    assert loaded.predict(x) == pytest.approx(1 / (1 + math.exp(-eta)))
    # the reader keeps each risk group's four figures; the Wilson intervals beside them are the report's
    written = json.loads(json.dumps(model.validation))
    keep = ("bin", "n", "mean_predicted", "observed")
    written["calibration_table"] = [{k: row[k] for k in keep} for row in written["calibration_table"]]
    assert loaded.validation == written
    with pytest.raises(SiteModelError, match="missing features: crs_grade"):
        loaded.predict({"baseline_neutrophils": 1.0})


def test_training_ranges_population_and_day(tmp_path: Path) -> None:
    df = _frame()
    model = fit_site_model(df, "nonrec28_seed001", ["baseline_neutrophils"], population="nhl", bootstrap=20)
    assert model.ranges["baseline_neutrophils"] == (df["baseline_neutrophils"].min(), df["baseline_neutrophils"].max())
    assert model.population == "nhl" and model.outcome_day == 28
    with pytest.raises(SiteModelError, match="unknown features"):
        fit_site_model(df.assign(age=1.0), "nonrec28_seed001", ["age"])


def test_the_engine_scores_what_the_analytics_fitted(tmp_path: Path) -> None:
    """Fitted on the rows' `input_*` columns — the risk engine's own inputs — and read back by the engine."""
    rows = list(rows_from_files(bundle_files(FIXTURES), None, "ALL", 1))
    df = cohort_table(rows)
    feats = ["baseline_neutrophils", "crs_grade"]
    frame = input_frame(df, "pht_seed000", feats)
    # no CRS is an input of 0, not a missing one: those patients are in the training set
    assert (frame["crs_grade"] == 0).sum() >= 3
    model = fit_site_model(frame, "pht_seed000", feats, bootstrap=50)
    assert model.training["n"] == len(frame.dropna())
    path = tmp_path / "site_model.json"
    save_model(model, path)
    profile = load_profile(site_model=path)
    scored = 0
    for f in bundle_files(FIXTURES):
        record = extract_record(json.loads(f.read_bytes()), profile)
        if record.infusion_date is None:
            continue
        a = evaluate(record, record.infusion_date + timedelta(days=20), profile, "ALL")
        assert a.risk is not None and a.risk.site_score is not None
        s = a.risk.site_score
        if s.scored:
            scored += 1
            assert s.probability == pytest.approx(model.predict({i.name: i.value for i in s.inputs}))
        else:
            assert s.reasons
    assert scored >= 10


def test_analyze_with_a_site_file_keeps_its_rule_in_the_artifact(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[thresholds.site_model]\nlandmark_day = 10\nno_crs_reading_from_day = 5\n")
    out = tmp_path / "out"
    assert main(["analyze", "--bundles", str(FIXTURES), "--out", str(out), "--jobs", "2", "--site", str(site)]) == 0
    doc = json.loads((out / "site_model.json").read_text())
    assert (doc["landmark_day"], doc["no_crs_reading_from_day"]) == (10, 5)
    bad = tmp_path / "bad.toml"
    bad.write_text("thresholds = 3\n")
    assert main(["analyze", "--bundles", str(FIXTURES), "--out", str(out), "--site", str(bad)]) == 2


def test_load_refuses_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(SiteModelError):
        load_model(bad)
    bad.write_text('{"format": "cds-cyto/site-model", "version": 99}')
    with pytest.raises(SiteModelError, match="version"):
        load_model(bad)
    with pytest.raises(SiteModelError):
        fit_site_model(_frame(10), "nonrec28_seed001", ["crs_grade"])


def test_plot_command_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "t.png"
    assert main(["plot", "syn-all-0000", "--bundles", str(FIXTURES), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "nobody", "--bundles", str(FIXTURES), "--out", str(out)]) == 2


def test_analyze_command_on_fixture_cohort(tmp_path: Path) -> None:
    assert main(["analyze", "--bundles", str(FIXTURES), "--out", str(tmp_path), "--jobs", "2"]) == 0
    assert (tmp_path / "report.html").is_file() and (tmp_path / "site_model.json").is_file()
