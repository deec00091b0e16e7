"""The site model's inputs for one patient, whether they are final yet, and the calibrated probability they give.

`site_inputs` turns the risk picture into the model's features, each with its value or the reason it has none
*yet*. The analytics fit the model on exactly these inputs (taken at the end of follow-up), so what is scored is
what was fitted. `score_site_model` gives a probability only when every input is known, final and within the range
seen in training, the patient is between day 0 and the outcome's day, and the model's population fits; otherwise it
says why not. A probability is always shown with the model's validation figures (`SiteScore.to_json`).

CRS-derived inputs are final only once CRS is over: scoring a patient as "grade 2, recovered day 0" while CRS is
still running would understate exactly the patients at risk. "No CRS" is final from a site-configurable day
(thresholds.toml [site_model]).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_cyto.record import LabResult
from cds_cyto.risk.crs import CrsFeatures
from cds_cyto.risk.hematotox import Hematotox
from cds_cyto.risk.markers import MarkerPeak
from cds_cyto.risk.site_model import SiteModel, SiteModelError

__all__ = ["LABEL", "ModelInput", "SiteScore", "score_site_model", "site_inputs"]

LABEL = "Site-calibrated model (fitted on this site's own patients; not a published score)"
_CRS_INPUTS = ("crs_grade", "crs_onset_day", "crs_recovery_day", "toci_or_steroid", "max_lg_ferritin", "max_lg_il6")


@dataclass(frozen=True, slots=True)
class ModelInput:
    name: str
    value: float | None
    missing: str | None = None  # why there is no value (yet)
    when: str | None = None
    source: str | None = None
    shown: str | None = None  # what a card says instead of the number ("no CRS" rather than "recovery day 0")

    def text(self) -> str:
        """ "baseline ANC 2.06 ×10⁹/L" — for a card."""
        if self.shown:
            return self.shown
        label, unit = _SHOWN.get(self.name, (self.name, ""))
        if self.value is None:
            return f"{label}: unknown"
        if self.name == "toci_or_steroid":
            return f"{label}: {'yes' if self.value else 'no'}"
        return f"{label} {round(self.value, 3):g}{unit}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value}
        if self.missing:
            out["missing"] = self.missing
        if self.when:
            out["when"] = self.when
        if self.source:
            out["source"] = self.source
        return out


# how a card names an input: (label, unit)
_SHOWN: dict[str, tuple[str, str]] = {
    "baseline_neutrophils": ("baseline ANC", " ×10⁹/L"),
    "baseline_hemoglobin": ("baseline Hb", " g/L"),
    "baseline_platelets": ("baseline PLT", " ×10⁹/L"),
    "baseline_il6": ("baseline IL-6", " pg/mL"),
    "baseline_ferritin": ("baseline ferritin", " ng/mL"),
    "hematotox_score": ("CAR-HEMATOTOX", "/7"),
    "crs_grade": ("maximum CRS grade", ""),
    "crs_onset_day": ("CRS onset day", ""),
    "crs_recovery_day": ("CRS recovery day", ""),
    "toci_or_steroid": ("tocilizumab or steroids", ""),
    "max_lg_ferritin": ("max lg ferritin", ""),
    "max_lg_il6": ("max lg IL-6", ""),
}


def _day(day: int) -> str:
    return f"day +{day}" if day >= 0 else f"day {day}"


def _crs_not_final(crs: CrsFeatures, day: int | None, fever_day: int | None, rule: Mapping[str, Any]) -> str | None:
    """None when the CRS picture can no longer change the inputs; else why it still can.

    Final means: the CRS record is complete (every episode dated, graded and abated, or no CRS at all with no fever
    and no CRS treatment), and the day has reached thresholds site_model.crs_final_from_day — before it a first or
    a second episode may still begin, and training took its inputs after it.
    """
    from_day = int(rule["crs_final_from_day"])
    recorded = crs.source in ("condition", "observation") and crs.max_grade != 0
    if recorded:
        if crs.undated_conditions:
            return "a CRS Condition without an onset date: the CRS timeline is incomplete"
        if crs.max_grade is None:
            return "CRS recorded without a grade: the maximum grade is unknown"
        if crs.onset_day is None:
            return "CRS recorded without an onset date"
        if crs.recovery_day is None:
            return f"CRS ongoing since {_day(crs.onset_day)}: its grade, timing and treatment are not final"
    elif crs.source == "fever-derived":
        return f"fever from {_day(crs.onset_day or 0)} without a CRS record: the CRS grade is unknown"
    elif crs.max_grade is None:
        return "no CRS record and no temperatures: whether CRS occurred is unknown"
    elif fever_day is not None:
        return f"fever on {_day(fever_day)} while no CRS grade above 0 is recorded: the CRS record is incomplete"
    elif crs.tocilizumab or crs.corticosteroid:
        return "tocilizumab or a corticosteroid given while no CRS is recorded: the CRS record is incomplete"
    if day is None or day < from_day:
        return (
            f"the CRS inputs count as final from {_day(from_day)}: another episode may still begin "
            f"(thresholds site_model.crs_final_from_day; {rule['source']})"
        )
    return None


def _result_input(name: str, r: LabResult | None, what: str) -> ModelInput:
    if r is None:
        return ModelInput(name, None, f"no {what} in the baseline window")
    return ModelInput(name, r.value, None, r.time.isoformat(), r.source_id)


def site_inputs(
    hematotox: Hematotox,
    baseline_il6: LabResult | None,
    crs: CrsFeatures,
    markers: Mapping[str, MarkerPeak],
    day: int | None,
    fever_day: int | None,
    rule: Mapping[str, Any],
) -> dict[str, ModelInput]:
    """Every feature a site model may use (`FEATURE_DEFINITIONS`), as it stands on the evaluation day.

    `fever_day`: the first day from day 0 with a temperature at or above the CRS fever threshold (None: none)."""
    out: dict[str, ModelInput] = {}
    by_analyte = {c.analyte: c for c in hematotox.components}
    for analyte in ("neutrophils", "hemoglobin", "platelets", "ferritin"):
        c = by_analyte.get(analyte)
        out[f"baseline_{analyte}"] = _result_input(f"baseline_{analyte}", None if c is None else c.result, analyte)
    out["baseline_il6"] = _result_input("baseline_il6", baseline_il6, "IL-6")
    out["hematotox_score"] = (
        ModelInput("hematotox_score", float(hematotox.score))
        if hematotox.complete and hematotox.score is not None
        else ModelInput("hematotox_score", None, f"CAR-HEMATOTOX incomplete ({', '.join(hematotox.missing)} missing)")
    )
    pending = _crs_not_final(crs, day, fever_day, rule)
    if pending is not None:
        out.update({name: ModelInput(name, None, pending) for name in _CRS_INPUTS})
        return out
    had_crs = bool(crs.max_grade)
    when = crs.date_of(crs.recovery_day if had_crs else day)
    where = crs.source_ids[0] if crs.source_ids else None
    stamp = {"when": None if when is None else when.isoformat(), "source": where}
    if had_crs:
        out["crs_grade"] = ModelInput("crs_grade", float(crs.max_grade or 0), **stamp)
        out["crs_onset_day"] = ModelInput("crs_onset_day", float(crs.onset_day or 0), **stamp)
        out["crs_recovery_day"] = ModelInput("crs_recovery_day", float(crs.recovery_day or 0), **stamp)
    else:  # no CRS is a value of 0 for all three (FEATURE_DEFINITIONS), which a card must not show as "day 0"
        for name in ("crs_grade", "crs_onset_day", "crs_recovery_day"):
            out[name] = ModelInput(name, 0.0, **stamp, shown=f"no CRS by {_day(day or 0)}")
    out["toci_or_steroid"] = ModelInput("toci_or_steroid", float(crs.tocilizumab or crs.corticosteroid))
    for marker in ("ferritin", "il6"):
        peak = markers.get(marker)
        name = f"max_lg_{marker}"
        if peak is None or peak.max_lg is None:
            out[name] = ModelInput(name, None, f"no {marker} result above 0 from day 0")
        else:
            r = peak.result
            out[name] = ModelInput(
                name, peak.max_lg, None, None if r is None else r.time.isoformat(), None if r is None else r.source_id
            )
    return out


@dataclass(frozen=True, slots=True)
class SiteScore:
    model: SiteModel
    probability: float | None  # None: not scored, see `reasons`
    reasons: tuple[str, ...]
    inputs: tuple[ModelInput, ...]  # the model's features, in its order
    cautions: tuple[str, ...]

    @property
    def scored(self) -> bool:
        return self.probability is not None

    def probability_text(self) -> str:
        p = self.probability
        if p is None:
            return "not scored"
        return "< 1%" if p < 0.005 else "> 99%" if p > 0.995 else f"{p * 100:.0f}%"

    def validation_text(self) -> str:
        v, t = self.model.validation, self.model.training
        lo, hi = v["auc_cv_ci95"]
        return (
            f"cross-validated AUC {v['auc_cv']:.2f} (95% CI {lo:.2f}–{hi:.2f}), calibration slope "
            f"{v['calibration_slope']:.2f}, calibration intercept {v['calibration_intercept']:.2f}; "
            f"fitted on {int(t['n'])} {self.model.population_name} patients of this site ({int(t['events'])} events), "
            f"model of {self.model.created}"
        )

    def to_json(self) -> dict[str, Any]:
        m, v = self.model, self.model.validation
        return {
            "label": LABEL,
            "status": "scored" if self.scored else "not-scored",
            "probability": None if self.probability is None else round(self.probability, 4),
            "outcome": {"name": m.outcome, "definition": m.outcome_definition, "day": m.outcome_day},
            "validation": {
                "auc_cv": v["auc_cv"],
                "auc_cv_ci95": list(v["auc_cv_ci95"]),
                "calibration_slope": v["calibration_slope"],
                "calibration_intercept": v["calibration_intercept"],
                "method": v["method"],
            },
            "training": {
                "n": m.training["n"],
                "events": m.training["events"],
                "population": m.population_name,
                "created": m.created,
            },
            "artifact": {"version": m.version, "sha256": m.sha256},
            "inputs": {i.name: i.to_json() for i in self.inputs},
            "not_scored_because": list(self.reasons),
            "cautions": list(self.cautions),
        }


def _cautions(model: SiteModel, disease: str | None) -> tuple[str, ...]:
    out = []
    if disease is None:
        out.append(
            f"the patient's disease is not recorded here: scored because the site declares every patient it serves "
            f"{model.population_name} (thresholds site_model.unknown_disease_in_population)"
        )
    lo = float(model.validation["auc_cv_ci95"][0])
    if lo <= 0.5:
        out.append("the AUC's 95% CI reaches 0.5: discrimination is not shown to be better than chance")
    epv = float(model.training["events"]) / len(model.features)
    if epv < 10:
        out.append(f"{epv:.1f} events per feature (fewer than 10): the model is likely over-fitted")
    return tuple(out)


def score_site_model(
    model: SiteModel,
    inputs: Mapping[str, ModelInput],
    day: int | None,
    disease: str | None,
    rule: Mapping[str, Any],
) -> SiteScore:
    """The calibrated probability on `day` (days after infusion), or the reasons there is none.

    A patient whose disease is not known (the hook reads no diagnosis) is scored only when the site says every
    patient it serves belongs to the model's population (thresholds site_model.unknown_disease_in_population)."""
    used = tuple(inputs[f] for f in model.features)
    reasons: list[str] = []
    if day is None:
        reasons.append("no CAR-T infusion recorded: the model is scored from day 0")
    elif day < 0:
        reasons.append(f"{_day(day)}: the model is scored from day 0")
    elif day >= model.outcome_day:
        reasons.append(f"{_day(day)}: the outcome (day +{model.outcome_day}) is now observed, not predicted")
    if disease is not None and disease != model.disease:
        reasons.append(f"the model was fitted on {model.population_name} patients; this patient's disease is {disease}")
    elif disease is None and not rule["unknown_disease_in_population"]:
        reasons.append(
            f"the patient's disease is not known here and the model applies to {model.population_name} only "
            "(thresholds site_model.unknown_disease_in_population)"
        )
    missing: dict[str, list[str]] = {}  # one reason (CRS ongoing) can hold back several inputs: said once
    for i in used:
        if i.value is None:
            missing.setdefault(i.missing or "unknown", []).append(i.name)
            continue
        lo, hi = model.ranges[i.name]
        if not lo <= i.value <= hi:
            reasons.append(f"{i.name} {i.value:g} is outside the range the model was fitted on ({lo:g}–{hi:g})")
    reasons += [f"{', '.join(names)}: {why}" for why, names in missing.items()]
    probability = None
    if not reasons:
        try:
            probability = model.predict({i.name: i.value for i in used})
        except SiteModelError as exc:  # e.g. coefficients so extreme that the linear predictor is not a number
            reasons.append(str(exc))
    return SiteScore(model, probability, tuple(reasons), used, _cautions(model, disease))
