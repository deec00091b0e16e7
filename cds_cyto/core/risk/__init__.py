"""The risk engine (issue 6): CAR-HEMATOTOX, CRS features, marker peaks, published risk factors. Computes only.

Pure: no I/O beyond the packaged risk.toml (read once), no clock — `as_of` is an argument. Every number is cited data
in `cds_cyto/core/profile/data/risk.toml` or the profile's thresholds.toml. Published scores and associations only: no
probability is produced anywhere (neither seed paper publishes an intercept or a baseline hazard).

    risk = assess_risk(record, as_of, profile, disease="NHL")
    risk.to_json()
    recs, monitoring_reasons = risk_recommendations(risk, record, as_of, day, latest_anc, profile)
    addition = antibacterial_prophylaxis(risk, as_of, day, latest_anc, profile)  # for the gcsf-therapeutic card
"""

from cds_cyto.core.risk.baseline import BaselineWindow, baseline_result, baseline_window, marrow_baseline
from cds_cyto.core.risk.crs import CrsFeatures, CrsSource, crs_features
from cds_cyto.core.risk.engine import RiskAssessment, assess_risk
from cds_cyto.core.risk.factors import FactorResult, ModelSummary, published_factors, relative_summaries
from cds_cyto.core.risk.hematotox import Hematotox, HematotoxComponent, car_hematotox
from cds_cyto.core.risk.markers import MarkerPeak, marker_peaks

__all__ = [
    "BaselineWindow",
    "CrsFeatures",
    "CrsSource",
    "FactorResult",
    "Hematotox",
    "HematotoxComponent",
    "MarkerPeak",
    "ModelSummary",
    "RiskAssessment",
    "assess_risk",
    "baseline_result",
    "baseline_window",
    "car_hematotox",
    "crs_features",
    "marker_peaks",
    "marrow_baseline",
    "published_factors",
    "relative_summaries",
]
