"""`assess_risk(record, as_of, profile, disease)` → `RiskAssessment`: the pure risk engine's one entry point.

No I/O beyond reading the packaged risk.toml once, no clock: `as_of` is an argument and nothing dated after it is
seen. The output shows published scores and associations with their citations. The one probability it can hold
comes from the site's own model (`profile.site_model`, fitted by `cds-cyto analyze`), always with that model's
validation figures; the published factors never become one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

from cds_cyto.core.extract.record import PatientRecord
from cds_cyto.core.profile import Profile
from cds_cyto.core.profile.risk_tables import RiskData
from cds_cyto.core.risk.baseline import baseline_result, marrow_baseline
from cds_cyto.core.risk.crs import CrsFeatures, crs_features
from cds_cyto.core.risk.disease import DiseaseChoice, choose_disease
from cds_cyto.core.risk.factors import FactorContext, FactorResult, ModelSummary, published_factors, relative_summaries
from cds_cyto.core.risk.hematotox import Hematotox, car_hematotox
from cds_cyto.core.risk.markers import MarkerPeak, marker_peaks
from cds_cyto.core.risk.site_score import ModelInput, SiteScore, landmark_inputs, score_site_model

__all__ = ["RiskAssessment", "assess_risk"]

_BASELINE_ANALYTES = ("neutrophils", "hemoglobin", "il6")  # seed 001's baseline factors


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    as_of: date
    day: int | None  # as_of relative to the infusion
    disease: str | None  # normalised ("ALL", "NHL", …)
    hematotox: Hematotox
    crs: CrsFeatures
    markers: dict[str, MarkerPeak]
    factors: tuple[FactorResult, ...]
    summaries: tuple[ModelSummary, ...]
    data: RiskData = field(repr=False)
    disease_choice: DiseaseChoice = field(default=DiseaseChoice(None, "unknown"))  # where `disease` came from
    # the site model's inputs, read only when asked for (scoring, or the analytics' training rows): the hook
    # without a site model does not pay for a second pass over the CRS record
    site_inputs_of: Callable[[], dict[str, ModelInput]] = field(default=dict, repr=False, compare=False)
    site_score: SiteScore | None = None  # only with a site model configured

    @property
    def site_inputs(self) -> dict[str, ModelInput]:
        return self.site_inputs_of()

    def to_json(self) -> dict[str, Any]:
        return {
            "disease": self.disease_choice.to_json(),
            "hematotox": self.hematotox.to_json(),
            "crs": self.crs.to_json(),
            "markers": {name: peak.to_json() for name, peak in self.markers.items()},
            "published_factors": [f.to_json() for f in self.factors],
            "relative_summary": {
                "label": self.data.summary_label,
                "note": self.data.summary_note,
                "models": {s.model: s.to_json() for s in self.summaries},
            },
            "site_model": None if self.site_score is None else self.site_score.to_json(),
        }


def assess_risk(
    record: PatientRecord,
    as_of: date,
    profile: Profile,
    disease: str | None = None,
) -> RiskAssessment:
    """The risk picture of `record` as it stood at the end of `as_of`.

    The disease (the record's diagnosis, else `disease` — any spelling of risk.toml disease_aliases —, else the
    site's setting; see risk/disease.py) selects the CAR-HEMATOTOX caveat, the published factors of that population
    (unknown: all factors) and whether the site model applies.
    `profile` gives the risk tables (risk.toml as in force), the site model, if any, and its scoring rule
    (thresholds.toml [site_model]).
    """
    data = profile.risk
    choice = choose_disease(record, profile, disease, data)
    dz = choice.disease
    day0 = record.infusion_date
    hematotox = car_hematotox(record, as_of, data, dz)
    crs = crs_features(record, as_of, data)
    markers = marker_peaks(record, as_of, data.marker_analytes)
    window = hematotox.window
    ctx = FactorContext(
        as_of=as_of,
        crs=crs,
        markers=markers,
        baseline={a: baseline_result(record, a, window, as_of) for a in _BASELINE_ANALYTES},
        marrow=marrow_baseline(record, data, as_of),
    )
    factors = published_factors(ctx, data, dz)
    day = None if day0 is None else (as_of - day0).days
    rule = profile.thresholds["site_model"]
    model = profile.site_model
    if model is not None:  # a fitted model is scored with the rule its training inputs were read with
        rule = {**rule, "landmark_day": model.landmark_day, "no_crs_reading_from_day": model.no_crs_reading_from_day}
    landmark = int(rule["landmark_day"])
    inputs = partial(landmark_inputs, record, as_of, hematotox, ctx.baseline["il6"], data, landmark, rule)
    score = None
    if model is not None:
        read = inputs()
        score = score_site_model(model, read, day, dz, rule)
        inputs = partial(dict, read)
    return RiskAssessment(
        as_of=as_of,
        day=day,
        disease=dz,
        hematotox=hematotox,
        crs=crs,
        markers=markers,
        factors=tuple(factors),
        summaries=tuple(relative_summaries(factors, data)),
        data=data,
        disease_choice=choice,
        site_inputs_of=inputs,
        site_score=score,
    )
