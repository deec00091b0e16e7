"""The site model artifact: fit, save, load, predict; refusals; and the per-patient timeline plot."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cds_cyto.analytics import SiteModelError, fit_site_model, load_model, save_model
from cds_cyto.cli import main

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
    assert doc["format"] == "cds-cyto/site-model" and doc["version"] == 1 and doc["created"] == "2026-11-22"
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
    assert loaded.validation == json.loads(json.dumps(model.validation))
    with pytest.raises(SiteModelError, match="missing features: crs_grade"):
        loaded.predict({"baseline_neutrophils": 1.0})


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
