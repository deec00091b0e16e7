"""Published risk factors (clinical-reference.md §7) as cited data, with this patient's value for each.

`present` (risk.toml `kind`):
- continuous — value worse than the published reference (e.g. seed 000's cohort median) when one is published;
  otherwise None: no cut-off is invented, only the value is reported;
- binary     — the value itself (e.g. tocilizumab/corticosteroid given);
- cutoff     — the published ROC-derived cut-off (seed 001).
A factor whose value is unknown has `present` None.

The relative summary per model is Σ ln(effect)·(x − x_ref), a published association, not calibrated: it is given
only when every term of the model has a value and a reference, and it is never turned into a probability.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_cyto.core.extract.record import LabResult
from cds_cyto.core.grading.interval import test
from cds_cyto.core.profile.risk_tables import FEATURE_NAMES, FactorDef, RiskData, compare
from cds_cyto.core.risk.crs import CrsFeatures
from cds_cyto.core.risk.markers import MarkerPeak

__all__ = ["FEATURES", "FactorContext", "FactorResult", "ModelSummary", "published_factors", "relative_summaries"]

Value = float | bool | None


@dataclass(frozen=True, slots=True)
class FactorContext:
    as_of: date
    crs: CrsFeatures
    markers: dict[str, MarkerPeak]
    baseline: dict[str, LabResult | None]  # analyte → baseline result (CAR-HEMATOTOX window)
    marrow: LabResult | None


def _lg(analyte: str) -> Callable[[FactorContext], Value]:
    def get(ctx: FactorContext) -> Value:
        peak = ctx.markers.get(analyte)
        return None if peak is None else peak.max_lg

    return get


# The features that are a baseline result: a censored one is compared as an interval (grading/interval.py).
_BASELINE_OF = {"anc_baseline": "neutrophils", "hb_baseline": "hemoglobin", "il6_baseline": "il6"}


def _base(analyte: str) -> Callable[[FactorContext], Value]:
    def get(ctx: FactorContext) -> Value:
        r = ctx.baseline.get(analyte)
        return None if r is None else r.value

    return get


def _crs_day(ctx: FactorContext, day: int | None) -> Value:
    return None if day is None else float(day)


FEATURES: dict[str, Callable[[FactorContext], Value]] = {
    "marrow_blasts_baseline": lambda ctx: None if ctx.marrow is None else ctx.marrow.value,
    "ddimer_max_lg": _lg("ddimer"),
    "il10_max_lg": _lg("il10"),
    "ferritin_max_lg": _lg("ferritin"),
    "crs_onset_day": lambda ctx: _crs_day(ctx, ctx.crs.onset_day),
    "crs_peak_day": lambda ctx: _crs_day(ctx, ctx.crs.peak_day),
    "crs_recovery_day": lambda ctx: _crs_day(ctx, ctx.crs.recovery_day),
    "crs_max_grade": lambda ctx: None if ctx.crs.max_grade is None else float(ctx.crs.max_grade),
    "crs_treated": lambda ctx: ctx.crs.tocilizumab or ctx.crs.corticosteroid,
    **{feature: _base(analyte) for feature, analyte in _BASELINE_OF.items()},
}
assert tuple(FEATURES) == FEATURE_NAMES, "FEATURES and config.FEATURE_NAMES must list the same features"


@dataclass(frozen=True, slots=True)
class FactorResult:
    definition: FactorDef
    value: Value
    present: bool | None
    note: str | None = None  # e.g. "fever-derived onset"

    def to_json(self) -> dict[str, Any]:
        d = self.definition
        value = round(self.value, 4) if isinstance(self.value, float) else self.value
        factor = d.factor if self.note is None else f"{d.factor} [{self.note}]"
        return {
            "source": d.source,
            "outcome": d.outcome,
            "factor": factor,
            "value": value,
            "present": self.present,
            "effect": {
                "measure": d.measure,
                "estimate": d.estimate,
                "per": d.per,
                "direction": d.direction,
                "p": d.p,
                "present_if": d.present_if,
                "source_text": d.source_text,
            },
            "ci": [d.ci[0], d.ci[1]],
        }


def _present(d: FactorDef, value: Value) -> bool | None:
    if value is None:
        return None
    if d.kind == "binary":
        return bool(value)
    x = float(value)
    if d.kind == "cutoff":
        assert d.op is not None and d.cut is not None
        return compare(x, d.op, d.cut)
    if d.reference is None:
        return None
    return x > d.reference if d.worse == "higher" else x < d.reference


def _present_censored(d: FactorDef, r: LabResult) -> bool | None:
    """`_present` for a censored baseline, as an interval: "<3" against a cut-off of 2.29 is unknown, not absent."""
    if d.kind == "cutoff" and d.op is not None and d.cut is not None:
        return test(d.op, r, d.cut)
    if d.kind == "continuous" and d.reference is not None:
        return test(">" if d.worse == "higher" else "<", r, d.reference)
    return _present(d, r.value)


def published_factors(ctx: FactorContext, data: RiskData, disease: str | None) -> list[FactorResult]:
    """Every factor of risk.toml, or only those of `disease`'s population when a disease is given."""
    out: list[FactorResult] = []
    for d in data.factors:
        if disease is not None and d.population != disease:
            continue
        value = FEATURES[d.feature](ctx)
        note = "fever-derived onset" if d.feature == "crs_onset_day" and ctx.crs.source == "fever-derived" else None
        result = ctx.baseline.get(_BASELINE_OF.get(d.feature, ""))
        present = _present(d, value) if result is None or not result.censored else _present_censored(d, result)
        out.append(FactorResult(d, value, present, note))
    return out


@dataclass(frozen=True, slots=True)
class SummaryTerm:
    factor: str
    beta: float
    x: float | None
    reference: float | None
    contribution: float | None

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {
            "factor": self.factor,
            "beta": r(self.beta),
            "x": r(self.x),
            "reference": r(self.reference),
            "contribution": r(self.contribution),
        }


@dataclass(frozen=True, slots=True)
class ModelSummary:
    model: str
    outcome: str
    interpretation: str
    terms: tuple[SummaryTerm, ...]

    @property
    def complete(self) -> bool:
        return all(t.contribution is not None for t in self.terms)

    @property
    def linear_predictor(self) -> float | None:
        if not self.complete:
            return None
        return sum(t.contribution for t in self.terms if t.contribution is not None)

    def to_json(self) -> dict[str, Any]:
        lp = self.linear_predictor
        return {
            "outcome": self.outcome,
            "interpretation": self.interpretation,
            "linear_predictor": None if lp is None else round(lp, 4),
            "complete": self.complete,
            "terms": [t.to_json() for t in self.terms],
            "missing": [t.factor for t in self.terms if t.contribution is None],
        }


def _term(result: FactorResult) -> SummaryTerm:
    d = result.definition
    beta = math.log(d.estimate)
    x: float | None
    ref: float | None
    if d.kind == "continuous":
        x = None if result.value is None else float(result.value)
        ref = d.reference
    else:  # binary / cutoff: the indicator "present", against "absent"
        x = None if result.present is None else (1.0 if result.present else 0.0)
        ref = 0.0
    contribution = None if x is None or ref is None else beta * (x - ref)
    return SummaryTerm(d.factor, beta, x, ref, contribution)


def relative_summaries(results: list[FactorResult], data: RiskData) -> list[ModelSummary]:
    by_model: dict[str, list[FactorResult]] = {}
    for r in results:
        by_model.setdefault(r.definition.model, []).append(r)
    out = []
    for model, items in by_model.items():
        meta = data.summary_models[model]
        out.append(ModelSummary(model, meta["outcome"], meta["interpretation"], tuple(_term(r) for r in items)))
    return out
