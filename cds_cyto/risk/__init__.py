"""The risk engine (issue 6): CAR-HEMATOTOX, CRS features, marker peaks, published risk factors, risk recommendations.

Pure: no I/O beyond the packaged risk.toml (read once), no clock — `as_of` is an argument. Every number is cited data
in `cds_cyto/data/risk.toml` or the profile's thresholds.toml. Published scores and associations only: no
probability is produced anywhere (neither seed paper publishes an intercept or a baseline hazard).

    risk = assess_risk(record, as_of, profile, disease="NHL")
    risk.to_json()
    recs, monitoring_reasons = risk_recommendations(risk, record, as_of, day, latest_anc, profile)
    addition = antibacterial_prophylaxis(risk, as_of, day, latest_anc, profile)  # for the gcsf-therapeutic card
"""

from cds_cyto.risk.baseline import BaselineWindow, baseline_result, baseline_window, marrow_baseline
from cds_cyto.risk.config import RiskData, RiskDataError, load_risk_data, normalise_disease
from cds_cyto.risk.crs import CrsFeatures, CrsSource, crs_features
from cds_cyto.risk.engine import RiskAssessment, assess_risk
from cds_cyto.risk.factors import FactorResult, ModelSummary, published_factors, relative_summaries
from cds_cyto.risk.hematotox import Hematotox, HematotoxComponent, car_hematotox
from cds_cyto.risk.markers import MarkerPeak, marker_peaks
from cds_cyto.risk.recommendations import CardAddition, antibacterial_prophylaxis, risk_recommendations

__all__ = [
    "BaselineWindow",
    "CardAddition",
    "CrsFeatures",
    "CrsSource",
    "FactorResult",
    "Hematotox",
    "HematotoxComponent",
    "MarkerPeak",
    "ModelSummary",
    "RiskAssessment",
    "RiskData",
    "RiskDataError",
    "antibacterial_prophylaxis",
    "assess_risk",
    "baseline_result",
    "baseline_window",
    "car_hematotox",
    "crs_features",
    "load_risk_data",
    "marker_peaks",
    "marrow_baseline",
    "normalise_disease",
    "published_factors",
    "relative_summaries",
    "risk_recommendations",
]
