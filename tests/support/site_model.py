"""A site-model artifact (format cds-cyto/site-model, version 2) as JSON, for tests that need a model to score."""

from __future__ import annotations

from typing import Any

from cds_cyto.core.profile.site_model import LOG_FEATURES


def artifact_doc(
    coefficients: dict[str, float],
    *,
    intercept: float,
    outcome: str = "pht_seed000",
    population: str = "all",
    ranges: dict[str, tuple[float, float]] | None = None,
    validation: dict[str, Any] | None = None,
    n: int = 300,
    events: int = 80,
    landmark_day: int = 14,
) -> dict[str, Any]:
    """Features not in `ranges` get a training range of 0 to 1e9; validation defaults: AUC 0.74 (0.68–0.80),
    calibration slope 0.91, intercept −0.04."""
    ranges = ranges or {}
    return {
        "format": "cds-cyto/site-model",
        "version": 2,
        "created": "2026-12-01",
        "outcome": {"name": outcome, "definition": "x", "day": 28},
        "landmark_day": landmark_day,
        "no_crs_reading_from_day": 7,
        "population": population,
        "features": [
            {
                "name": name,
                "definition": name,
                "transform": "ln" if name in LOG_FEATURES else "identity",
                "coefficient": c,
                "training_range": list(ranges.get(name, (0.0, 1e9))),
            }
            for name, c in coefficients.items()
        ],
        "intercept": intercept,
        "training": {"n": n, "events": events, "data_sha256": "0" * 64, "seed": 1},
        "validation": {
            "method": "5-fold cross-validation",
            "auc_cv": 0.74,
            "auc_cv_ci95": [0.68, 0.80],
            "calibration_slope": 0.91,
            "calibration_intercept": -0.04,
            **(validation or {}),
        },
    }
