"""Acceptance: fitted HRs/ORs against the effects the simulator plants (truth.json `model`), and the report renders.

Day-28 outcomes are planted on what a site observes: persistence is decided from the covariates as charted
(baseline counts and IL-6 from the last result before lymphodepletion), and a course without persistence is
recovered and clear of the thresholds by day 28 when no recovery model is planted (B-NHL).

B-ALL recovery is planted on the observed episode (first severe day to recovery day by the seed-000 definition): its
length is proportional-hazards on the covariates as charted (marker peaks from the charted values, the CRS peak as
read from the coded Condition), the counts are steered to cross back then, and transfusions are not given within
the 7-day look-back before the planned recovery. A persistence hold never lengthens a first episode: it is a second
episode, extends a pre-existing one (not analysed), or, on a lineage with no episode, is the first one with its
planted length. Natural episodes are over before day 28, so PHT is the persistence model alone.

Every effect is asserted inside its fitted 95% CI, jointly per cohort (Bonferroni, see `_check`). At n = 300 the
per-effect 95% CIs held 75 of 80 B-ALL effects over seeds 11 and 1-7 (285 of 300 over seeds 20-49), as nominal; at
n = 3000 the fits sit on the planted values, up to the small attenuation that whole-day durations bring (ties:
IL-10 about 0.56 for 0.533).
"""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path
from statistics import NormalDist

import pandas as pd
import pytest

from cds_cyto.analytics import analyze_rows, bundle_files, rows_from_files
from cds_cyto.analytics.regression import COX_SPECS, LOGIT_SPECS, cox_multivariable, logistic_multivariable, prepare
from cds_cyto.analytics.rows import cohort_table
from cds_cyto.simulate import CohortSpec, write_cohort

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
            for r in cox_multivariable(df, key).table.to_dict("records"):
                fitted[(key, str(r["covariate"]))] = (float(r["HR"]), float(r["lower"]), float(r["upper"]))
    outcome = "pht_seed000" if disease == "all" else "nonrec28_seed001"
    for r in logistic_multivariable(df, outcome, LOGIT_SPECS[outcome]).to_dict("records"):
        fitted[(outcome, str(r["covariate"]))] = (float(r["OR"]), float(r["lower"]), float(r["upper"]))
    return fitted


def _check(planted: dict[tuple[str, str], float], fitted: dict[tuple[str, str], tuple[float, float, float]]) -> None:
    """Every planted value inside its fitted 95% CI, taken jointly: the m effects of one cohort are asserted together,
    so each interval is the 95% CI widened to 1 - 0.05/m (Bonferroni), and the test fails with probability <= 5% for
    a generator that plants exactly (per-effect 95% CIs would fail ~40% of seeds at m = 10 by chance alone)."""
    z95 = NormalDist().inv_cdf(0.975)
    z = NormalDist().inv_cdf(1.0 - 0.025 / len(planted))
    for key, true in planted.items():
        est, lo, hi = fitted[key]
        assert lo <= est <= hi and math.isfinite(lo) and math.isfinite(hi)
        centre, half = math.log(est), (math.log(hi) - math.log(lo)) / 2.0 * z / z95
        low, high = math.exp(centre - half), math.exp(centre + half)
        assert low <= true <= high, (
            f"{key}: planted {true:.3f} outside fitted CI {low:.3f}-{high:.3f} "
            f"(95% CI {lo:.3f}-{hi:.3f}, joint over {len(planted)})"
        )


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
    for anchor in (
        "characteristics",
        "incidence",
        "cumulative",
        "crs",
        "correlation",
        "models",
        "support",
        "site-model",
    ):
        assert f'<section id="{anchor}">' in text
    figures = re.findall(r'<figure><img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"><figcaption>', text)
    assert len(figures) >= 12 and len(figures) == len(res.figures)
    for data in figures:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    for name, fig in res.figures.items():
        assert fig.caption and (tmp_path / "figures" / f"{name}.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert (tmp_path / "tables" / "incidence.csv").is_file()
    assert (tmp_path / "tables.json").is_file()
    assert (tmp_path / "site_model.json").is_file()
    assert "AUC" in text and "calibration slope" in text  # the model never appears without its validation
    assert res.model is not None
    _every_listed_analysis(res, text)


def _every_listed_analysis(res: object, text: str) -> None:
    """Issue 16's "missing entirely" list, each in the report beside the figure or table of the paper it reproduces,
    and moving the way the generator plants it (CRS slows recovery and raises supportive care)."""
    tables, figures = res.tables, res.figures  # type: ignore[attr-defined]
    for name in ("fig1b_timepoints", "fig2a_timing", "fig2b_incidence_by_crs", "fig4_duration_by_crs",
                 "temporal_characteristics", "support_by_crs", "support_by_day", "nadirs", "counts_by_crs",
                 "seed001_table1_multivariable_sn", "logistic_univariable_nonrec28_seed001", "roc_cutoffs_nonrec28",
                 "site_model_participant_flow", "site_model_decision_curve"):  # fmt: skip
        assert not tables[name].empty, name
    for name in ("forest_cox_sn", "forest_pht_seed000", "roc", "cumulative_incidence", "support_by_day"):
        assert name in figures, name
    for name, fig in figures.items():  # every figure of a paper names which figure of which paper it reproduces
        if name not in ("calibration", "decision_curve"):  # the site model's own (TRIPOD), in neither paper
            assert re.search(r"reproduces seed 00[01] ", fig.caption, re.IGNORECASE), name
            assert "_" not in fig.caption.split("(figures/")[0], name  # no snake_case names
    for cited in ("Figure 1B", "2A-E", "4A-F", "Supplementary Tables 1-2", "Figure 6A-D", "Tables I-III", "Figure S1"):
        assert cited in text, cited
    assert "published cut-off (seed 001)" not in tables["roc_cutoffs_nonrec28"]  # a B-NHL paper's, not beside B-ALL
    fig4 = tables["fig4_duration_by_crs"].set_index("measure")
    assert fig4.loc["SN duration, days (no SN: 0, as seed 000)", "Kruskal-Wallis p"] < 0.01
    g = tables["support_by_crs"].set_index("support")
    share = {c: float(str(g.loc["G-CSF", c]).split("%")[0]) for c in ("no CRS", "severe CRS")}
    assert share["severe CRS"] > share["no CRS"]
    assert set(tables["nadirs"]["lineage"]) == {"ANC", "Hb", "PLT"} and (tables["nadirs"]["n"] > 0).all()
