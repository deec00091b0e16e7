"""A site-calibrated logistic model, fitted on the site's own cohort, validated, exported as a versioned JSON artifact.

The artifact's format and its reader live with the risk engine that scores it (`cds_cyto.core.profile.site_model`); this
module fits and writes it. The features are the risk engine's site inputs (`cds_cyto.core.risk.site_score.site_inputs`,
in the analysis rows as `input_<name>`), so the model is fitted on exactly what it is later scored with.
`fit_site_model` gives a `SiteModel` with cross-validated AUC (bootstrap 95% CI), calibration slope and intercept, a
calibration table, the training n and events, the training range of each feature and a SHA-256 of the data.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

from cds_cyto.analytics.regression import roc_auc
from cds_cyto.core.profile.site_model import (
    ARTIFACT_FORMAT,
    ARTIFACT_VERSION,
    FEATURE_DEFINITIONS,
    OUTCOME_DEFINITIONS,
    SiteModel,
    SiteModelError,
    load_model,
    over_fitting_caution,
    transform,
    transform_of,
)

__all__ = [
    "ARTIFACT_FORMAT",
    "ARTIFACT_VERSION",
    "FEATURE_DEFINITIONS",
    "INPUT_PREFIX",
    "OUTCOME_DEFINITIONS",
    "SiteModel",
    "SiteModelError",
    "fit_site_model",
    "input_frame",
    "load_model",
    "over_fitting_caution",
    "save_model",
]

INPUT_PREFIX = "input_"


def input_frame(df: pd.DataFrame, outcome: str, features: list[str]) -> pd.DataFrame:
    """The analysis table's site inputs (`input_<name>`) and the outcome, under the model's feature names."""
    cols = {f"{INPUT_PREFIX}{f}": f for f in features}
    return df[[*cols, outcome]].rename(columns=cols)


def _design(df: pd.DataFrame, features: list[str]) -> np.ndarray:
    cols = [df[f].astype(float).map(lambda v, f=f: transform(transform_of(f), v)).to_numpy() for f in features]
    return np.column_stack([np.ones(len(df)), *cols])


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    return np.asarray(res.params, dtype=float)


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-eta)), dtype=float)


def _calibration(y: np.ndarray, p: np.ndarray, bins: int) -> tuple[float, float, list[dict[str, float]]]:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    lp = np.log(p / (1 - p))
    slope_fit = _fit(np.column_stack([np.ones(len(lp)), lp]), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        citl = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    table = []
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    for b in range(bins):
        m = idx == b
        if m.any():
            table.append(
                {
                    "bin": float(b + 1),
                    "n": float(m.sum()),
                    "mean_predicted": float(p[m].mean()),
                    "observed": float(y[m].mean()),
                }
            )
    return float(slope_fit[1]), float(np.asarray(citl.params)[0]), table


def fit_site_model(
    df: pd.DataFrame,
    outcome: str,
    features: list[str],
    folds: int = 5,
    bootstrap: int = 500,
    seed: int = 20261122,
    created: date | None = None,
    outcome_day: int = 28,
    landmark_day: int = 14,
    no_crs_reading_from_day: int = 7,
    population: str = "all",
) -> SiteModel:
    """Logistic regression on complete cases; k-fold cross-validated predictions for AUC and calibration.

    `df` holds the features under their own names (`input_frame` makes it from an analysis table) and the outcome.
    """
    if outcome not in OUTCOME_DEFINITIONS:
        raise SiteModelError(f"unknown outcome {outcome!r}")
    unknown = [f for f in features if f not in FEATURE_DEFINITIONS]
    if unknown:
        raise SiteModelError(f"unknown features: {', '.join(unknown)}")
    d = df[[*features, outcome]].dropna()
    if len(d) < 20 or d[outcome].nunique() < 2:
        raise SiteModelError(f"too few complete cases to fit a model of {outcome} (n={len(d)})")
    y = d[outcome].to_numpy(dtype=float)
    x = _design(d, features)
    beta = _fit(x, y)
    if not np.all(np.isfinite(beta)):
        raise SiteModelError(f"the model of {outcome} did not converge (separation?)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(d))
    oof = np.empty(len(d))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        oof[test] = _sigmoid(x[test] @ _fit(x[train], y[train]))
    auc = roc_auc(y, oof)
    boots = []
    for _ in range(bootstrap):
        i = rng.integers(0, len(d), len(d))
        a = roc_auc(y[i], oof[i])
        if not math.isnan(a):
            boots.append(a)
    if math.isnan(auc) or not boots:
        raise SiteModelError(f"the model of {outcome} could not be validated (no AUC)")
    slope, citl, table = _calibration(y, oof, bins=5 if len(d) < 500 else 10)
    apparent = roc_auc(y, _sigmoid(x @ beta))
    digest = hashlib.sha256(pd.util.hash_pandas_object(d, index=False).to_numpy().tobytes()).hexdigest()
    return SiteModel(
        outcome=outcome,
        outcome_day=outcome_day,
        landmark_day=landmark_day,
        no_crs_reading_from_day=no_crs_reading_from_day,
        population=population,
        features=tuple(features),
        intercept=float(beta[0]),
        coefficients={f: float(b) for f, b in zip(features, beta[1:], strict=True)},
        transforms={f: transform_of(f) for f in features},
        ranges={f: (float(d[f].min()), float(d[f].max())) for f in features},
        validation={
            "method": f"{folds}-fold cross-validation (out-of-fold predictions); AUC CI: {bootstrap} bootstraps",
            "auc_cv": auc,
            "auc_cv_ci95": [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))],
            "auc_apparent": apparent,
            "calibration_slope": slope,
            "calibration_intercept": citl,
            "calibration_table": table,
        },
        training={"n": len(d), "events": int(y.sum()), "data_sha256": digest, "seed": seed},
        created=(created or date.today()).isoformat(),
        feature_definitions={f: FEATURE_DEFINITIONS[f] for f in features},
    )


def save_model(model: SiteModel, path: Path) -> None:
    path.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
