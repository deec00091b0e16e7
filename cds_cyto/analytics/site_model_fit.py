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
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from cds_cyto.analytics import tripod
from cds_cyto.analytics.firth import fit_logit
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
    "oof_predictions",
    "over_fitting_caution",
    "save_model",
]

INPUT_PREFIX = "input_"


def input_frame(df: pd.DataFrame, outcome: str, features: list[str]) -> pd.DataFrame:
    """The analysis table's site inputs (`input_<name>`) and the outcome, under the model's feature names."""
    cols = {f"{INPUT_PREFIX}{f}": f for f in features}
    return df[[*cols, outcome]].rename(columns=cols)


def _design(df: pd.DataFrame, features: list[str]) -> np.ndarray:
    return tripod.design(df, features, {f: transform_of(f) for f in features})


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(fit_logit(x, y).beta, dtype=float)


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
    shrink: bool = False,
) -> SiteModel:
    """Logistic regression on complete cases; k-fold cross-validated predictions for AUC, Brier and calibration;
    `bootstrap` resamples, each refitted, for the optimism-corrected figures and the CV AUC's CI. `shrink`: the
    coefficients are multiplied by the bootstrap's uniform shrinkage factor and the intercept re-estimated.

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
    fit = fit_logit(x, y)
    beta = np.asarray(fit.beta, dtype=float)
    if not fit.converged or not np.all(np.isfinite(beta)):
        raise SiteModelError(f"the model of {outcome} did not converge (separation?)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(d))
    oof = np.empty(len(d))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        oof[test] = tripod.sigmoid(x[test] @ _fit(x[train], y[train]))
    auc = roc_auc(y, oof)
    try:
        boot = tripod.bootstrap_validation(x, y, beta, folds, bootstrap, rng)
    except ValueError as exc:
        raise SiteModelError(f"the model of {outcome} could not be validated ({exc})") from None
    if math.isnan(auc):
        raise SiteModelError(f"the model of {outcome} could not be validated (no AUC)")
    # the percentile CI of a re-run procedure need not hold the original run's AUC; an artifact's interval must
    ci = (min(boot.auc_cv_ci95[0], auc), max(boot.auc_cv_ci95[1], auc))
    slope, citl = tripod.calibration_fit(y, oof)
    table = tripod.calibration_table(y, oof, bins=5 if len(d) < 500 else 10)
    # shown on cards beside the probability: short (the artifact reader takes at most 200 characters)
    method = (
        f"{folds}-fold cross-validation; AUC CI: the cross-validation re-run on {boot.replicates} refitted "
        "bootstrap resamples"
    )
    shrinkage = boot.slope_corrected
    if shrink:
        if not 0 < shrinkage <= 1:
            raise SiteModelError(f"no uniform shrinkage: the bootstrap calibration slope is {shrinkage:.3f}")
        lp = x[:, 1:] @ (beta[1:] * shrinkage)
        beta = np.array([fit_logit(np.ones((len(y), 1)), y, offset=lp).beta[0], *(beta[1:] * shrinkage)])
        method += f"; coefficients shrunk by {shrinkage:.3f} (uniform shrinkage)"
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
            "method": method,
            "auc_cv": auc,
            "auc_cv_ci95": list(ci),
            "auc_apparent": boot.auc_apparent,
            "auc_optimism_corrected": boot.auc_corrected,
            "brier_cv": tripod.brier(y, oof),
            "brier_apparent": boot.brier_apparent,
            "brier_optimism_corrected": boot.brier_corrected,
            "calibration_slope": slope,
            "calibration_intercept": citl,
            "calibration_slope_optimism_corrected": boot.slope_corrected,
            "calibration_table": table,
        }
        | ({"shrinkage_factor": shrinkage} if shrink else {}),
        training={"n": len(d), "events": int(y.sum()), "data_sha256": digest, "seed": seed},
        created=(created or date.today()).isoformat(),
        feature_definitions={f: FEATURE_DEFINITIONS[f] for f in features},
    )


def oof_predictions(df: pd.DataFrame, outcome: str, features: list[str], folds: int = 5, seed: int = 20261122
                    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The outcome and the out-of-fold predictions `fit_site_model` validates with (same seed, same folds)."""
    d = df[[*features, outcome]].dropna()
    y, x = d[outcome].to_numpy(dtype=float), _design(d, features)
    order = np.random.default_rng(seed).permutation(len(d))
    oof = np.empty(len(d))
    for k in range(folds):
        test = order[k::folds]
        oof[test] = tripod.sigmoid(x[test] @ _fit(x[np.setdiff1d(order, test)], y[np.setdiff1d(order, test)]))
    return y, oof


def save_model(model: SiteModel, path: Path) -> None:
    path.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
