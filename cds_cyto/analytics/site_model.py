"""A site-calibrated logistic model, fitted on the site's own cohort, validated, exported as a versioned JSON artifact.

The artifact (format `cds-cyto/site-model`, version 1) holds: outcome and its definition, the features with their
definitions (column, transform, unit), coefficients (intercept first), validation metrics (cross-validated AUC with
a bootstrap 95% CI, calibration slope and intercept, a calibration table), the training n and events, a SHA-256 hash
of the training data, and the creation date. `load_model(path)` gives a `SiteModel`; `predict(features)` a probability.
It is never shown without its validation figures (`SiteModel.validation`).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from cds_cyto.analytics.models import roc_auc

__all__ = [
    "ARTIFACT_FORMAT",
    "ARTIFACT_VERSION",
    "FEATURE_DEFINITIONS",
    "SiteModel",
    "SiteModelError",
    "fit_site_model",
    "load_model",
    "save_model",
]

ARTIFACT_FORMAT = "cds-cyto/site-model"
ARTIFACT_VERSION = 1

FEATURE_DEFINITIONS: dict[str, str] = {
    "baseline_neutrophils": "ANC before lymphodepletion (CAR-HEMATOTOX window), x10^9/L",
    "baseline_hemoglobin": "Hb before lymphodepletion (CAR-HEMATOTOX window), g/L",
    "baseline_platelets": "platelets before lymphodepletion (CAR-HEMATOTOX window), x10^9/L",
    "baseline_il6": "IL-6 before lymphodepletion, pg/mL",
    "baseline_ferritin": "ferritin before lymphodepletion, ng/mL",
    "hematotox_score": "CAR-HEMATOTOX score (0-7)",
    "crs_grade": "maximum ASTCT CRS grade (0 = none)",
    "crs_onset_day": "day of CRS onset (0 without CRS)",
    "crs_recovery_day": "day of CRS abatement (0 without CRS)",
    "toci_or_steroid": "tocilizumab or corticosteroid given (1/0)",
    "max_lg_ferritin": "log10 of peak ferritin from day 0",
    "max_lg_il6": "log10 of peak IL-6 from day 0",
}
OUTCOME_DEFINITIONS: dict[str, str] = {
    "nonrec28_seed001": "not recovered at day 28 (seed 001: any lineage grade >= 3 without recovery by day 28)",
    "pht_seed000": "prolonged hematological toxicity (seed 000: SN, SA or ST on day 28)",
}
_LOG_FEATURES = {
    "baseline_neutrophils",
    "baseline_hemoglobin",
    "baseline_platelets",
    "baseline_il6",
    "baseline_ferritin",
}


class SiteModelError(ValueError):
    """An artifact that cannot be read or a feature vector that cannot be scored."""


def _transform(name: str, value: float) -> float:
    return math.log(max(value, 1e-3)) if name in _LOG_FEATURES else value


@dataclass(frozen=True, slots=True)
class SiteModel:
    outcome: str
    features: tuple[str, ...]
    intercept: float
    coefficients: dict[str, float]
    transforms: dict[str, str]
    validation: dict[str, Any]
    training: dict[str, Any]
    created: str
    version: int = ARTIFACT_VERSION
    feature_definitions: dict[str, str] = field(default_factory=dict)

    def predict(self, features: dict[str, float]) -> float:
        """Probability of the outcome. Every feature is required; a missing one is an error, never a silent 0."""
        missing = [f for f in self.features if f not in features or features[f] is None]
        if missing:
            raise SiteModelError(f"missing features: {', '.join(missing)}")
        eta = self.intercept
        for f in self.features:
            v = float(features[f])
            eta += self.coefficients[f] * (math.log(max(v, 1e-3)) if self.transforms[f] == "ln" else v)
        return 1.0 / (1.0 + math.exp(-eta))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "created": self.created,
            "outcome": {"name": self.outcome, "definition": OUTCOME_DEFINITIONS.get(self.outcome, self.outcome)},
            "features": [
                {
                    "name": f,
                    "definition": self.feature_definitions.get(f, FEATURE_DEFINITIONS.get(f, f)),
                    "transform": self.transforms[f],
                    "coefficient": self.coefficients[f],
                }
                for f in self.features
            ],
            "intercept": self.intercept,
            "training": self.training,
            "validation": self.validation,
        }


def _design(df: pd.DataFrame, features: list[str]) -> np.ndarray:
    cols = [df[f].astype(float).map(lambda v, f=f: _transform(f, v)).to_numpy() for f in features]
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
) -> SiteModel:
    """Logistic regression on complete cases; k-fold cross-validated predictions for AUC and calibration."""
    d = df[[*features, outcome]].dropna()
    if len(d) < 20 or d[outcome].nunique() < 2:
        raise SiteModelError(f"too few complete cases to fit a model of {outcome} (n={len(d)})")
    y = d[outcome].to_numpy(dtype=float)
    x = _design(d, features)
    beta = _fit(x, y)
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
    slope, citl, table = _calibration(y, oof, bins=5 if len(d) < 500 else 10)
    apparent = roc_auc(y, _sigmoid(x @ beta))
    digest = hashlib.sha256(pd.util.hash_pandas_object(d, index=False).to_numpy().tobytes()).hexdigest()
    return SiteModel(
        outcome=outcome,
        features=tuple(features),
        intercept=float(beta[0]),
        coefficients={f: float(b) for f, b in zip(features, beta[1:], strict=True)},
        transforms={f: ("ln" if f in _LOG_FEATURES else "identity") for f in features},
        validation={
            "method": f"{folds}-fold cross-validation (out-of-fold predictions); AUC CI: {bootstrap} bootstraps",
            "auc_cv": auc,
            "auc_cv_ci95": [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))] if boots else None,
            "auc_apparent": apparent,
            "calibration_slope": slope,
            "calibration_intercept": citl,
            "calibration_table": table,
        },
        training={"n": len(d), "events": int(y.sum()), "data_sha256": digest, "seed": seed},
        created=(created or date.today()).isoformat(),
        feature_definitions={f: FEATURE_DEFINITIONS.get(f, f) for f in features},
    )


def save_model(model: SiteModel, path: Path) -> None:
    path.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")


def load_model(path: str | Path) -> SiteModel:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SiteModelError(f"{path}: cannot read the model ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != ARTIFACT_FORMAT:
        raise SiteModelError(f"{path}: not a {ARTIFACT_FORMAT} artifact")
    if doc.get("version") != ARTIFACT_VERSION:
        raise SiteModelError(f"{path}: artifact version {doc.get('version')} is not supported")
    try:
        feats = doc["features"]
        return SiteModel(
            outcome=str(doc["outcome"]["name"]),
            features=tuple(str(f["name"]) for f in feats),
            intercept=float(doc["intercept"]),
            coefficients={str(f["name"]): float(f["coefficient"]) for f in feats},
            transforms={str(f["name"]): str(f["transform"]) for f in feats},
            validation=dict(doc["validation"]),
            training=dict(doc["training"]),
            created=str(doc["created"]),
            version=int(doc["version"]),
            feature_definitions={str(f["name"]): str(f["definition"]) for f in feats},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SiteModelError(f"{path}: malformed model artifact ({exc})") from exc
