"""Firth's penalised logistic regression: held to its known 2×2 property, finite under separation, and used by the
logistic models below the EPV floor and on separation, named in the table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cds_cyto.analytics.firth import fit_logit
from cds_cyto.analytics.regression import FIRTH_METHOD, LOGIT_METHOD, logistic_multivariable, logistic_univariable


def _two_by_two(a: int, b: int, c: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """x = 1: a events, b non-events; x = 0: c events, d non-events."""
    x = np.r_[np.ones(a + b), np.zeros(c + d)]
    y = np.r_[np.ones(a), np.zeros(b), np.ones(c), np.zeros(d)]
    return np.column_stack([np.ones(len(x)), x]), y


@pytest.mark.parametrize(("a", "b", "c", "d"), [(7, 3, 2, 8), (1, 20, 5, 5), (12, 0, 3, 9), (0, 10, 10, 0)])
def test_firth_odds_ratio_of_a_2x2_table_adds_one_half_to_every_cell(a: int, b: int, c: int, d: int) -> None:
    x, y = _two_by_two(a, b, c, d)
    fit = fit_logit(x, y, firth=True)
    assert fit.converged
    assert math.exp(fit.beta[1]) == pytest.approx((a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5)), rel=1e-8)
    assert math.exp(fit.beta[0]) == pytest.approx((c + 0.5) / (d + 0.5), rel=1e-8)  # the odds at x = 0


def test_maximum_likelihood_equals_statsmodels() -> None:
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(300), rng.normal(0, 1, (300, 3))])
    y = (rng.random(300) < 1 / (1 + np.exp(-(x @ [-0.5, 1.0, -0.7, 0.2])))).astype(float)
    ours, ref = fit_logit(x, y), sm.Logit(y, x).fit(disp=0)
    assert np.allclose(ours.beta, ref.params, atol=1e-7) and np.allclose(ours.se, ref.bse, atol=1e-6)
    assert np.allclose(ours.wald()[2], ref.pvalues, atol=1e-6)


def test_firth_shrinks_towards_zero_and_stays_finite_under_complete_separation() -> None:
    rng = np.random.default_rng(5)
    x = np.column_stack([np.ones(40), rng.normal(0, 1, 40)])
    y = (x[:, 1] > 0.3).astype(float)  # complete separation: the ML estimate is infinite
    fit = fit_logit(x, y, firth=True)
    assert fit.converged and np.all(np.isfinite(fit.beta)) and np.all(np.isfinite(fit.se)) and fit.beta[1] > 0
    mild = np.column_stack([np.ones(60), rng.normal(0, 1, 60)])
    ym = (rng.random(60) < 1 / (1 + np.exp(-1.5 * mild[:, 1]))).astype(float)
    assert abs(fit_logit(mild, ym, firth=True).beta[1]) < abs(fit_logit(mild, ym).beta[1])


def test_below_the_epv_floor_the_logistic_model_is_firth_named_in_the_table() -> None:
    rng = np.random.default_rng(6)
    n = 120
    d = pd.DataFrame({f"c{i}": rng.normal(0, 1, n) for i in range(4)})
    d["y"] = 0.0
    d.loc[d.index[:12], "y"] = 1.0  # 12 events for 4 covariates: EPV 3
    table = logistic_multivariable(d, "y", ["c0", "c1", "c2", "c3"])
    assert set(table["method"]) == {FIRTH_METHOD}
    assert table["OR"].notna().all() and all("EPV 3.0 < 5: Firth" in str(x) for x in table["note"])
    d.loc[d.index[:3], "y"] = 1.0
    d.loc[d.index[3:], "y"] = 0.0  # 3 events for 4 covariates: fewer than one per covariate is refused
    refused = logistic_multivariable(d, "y", ["c0", "c1", "c2", "c3"])
    assert refused["OR"].isna().all() and all("not estimated" in str(x) for x in refused["note"])


def test_separation_gives_a_firth_estimate_with_the_reason() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 200)
    d = pd.DataFrame({"x": x, "z": rng.normal(0, 1, 200), "y": (x > 0.8).astype(float)})
    table = logistic_multivariable(d, "y", ["x", "z"])
    row = table[table["covariate"] == "x"].iloc[0]
    assert row["method"] == FIRTH_METHOD and "separation" in str(row["note"]) and math.isfinite(float(row["upper"]))
    uni = logistic_univariable(d, "y", ["x", "z"])
    assert list(uni["method"]) == [FIRTH_METHOD, LOGIT_METHOD]
