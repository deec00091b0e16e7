"""The site model's inputs for one patient, whether they are final yet, and the calibrated probability they give.

The model is a landmark model. Its CRS-derived inputs (grade, onset, recovery, tocilizumab/steroids, marker peaks)
are taken on the landmark day (thresholds site_model.landmark_day, stored in the artifact): training reads every
patient as they stood on that day, and a patient is scored from that day on with the same inputs, read from the
record up to that day only. So what is scored is exactly what was fitted, and a later peak or a steroid on day +20
can neither leak into training nor make an early score differ from the model's.

The inputs must also be final on the landmark: a CRS record that is complete (every episode dated, graded and
abated by then, with no fever, CRS treatment or daily grade outside the recorded episodes), or "no CRS" with
temperatures or grades charted into the second week and no fever or CRS treatment. Otherwise the patient is not
scored, and the card says why. Scoring a patient as "grade 2, recovered" while CRS is still running would understate
exactly the patients at risk.

`score_site_model` gives a probability only when every input is known and final, within the range seen in training,
on a day from the landmark to the day before the outcome's day, and for the model's population. A probability is
always shown with the model's validation figures (`SiteScore.to_json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds_cyto.core.extract.record import LabResult, PatientRecord
from cds_cyto.core.profile.risk_tables import RiskData
from cds_cyto.core.profile.site_model import SiteModel, SiteModelError, over_fitting_caution
from cds_cyto.core.risk.crs import CrsFeatures, crs_features
from cds_cyto.core.risk.hematotox import Hematotox
from cds_cyto.core.risk.markers import MarkerPeak, marker_peaks

__all__ = [
    "LABEL",
    "CrsSigns",
    "ModelInput",
    "SiteScore",
    "crs_signs",
    "landmark_inputs",
    "score_site_model",
    "site_inputs",
]

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
        return f"{label} {round(self.value, 3):g}{unit}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "shown": self.text()}
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


@dataclass(frozen=True, slots=True)
class CrsSigns:
    """What else the record says about CRS from day 0 to the landmark, to check a CRS record is complete."""

    fever_days: tuple[int, ...]  # days with a temperature at or above the CRS fever threshold
    treatment_days: tuple[int, ...]  # days tocilizumab or a corticosteroid was started
    graded_days: tuple[tuple[int, int], ...]  # (day, grade) of daily ASTCT grades
    last_reading_day: int | None  # the last day with a temperature or a daily grade
    episodes: tuple[tuple[int, int | None], ...] = ()  # dated CRS Conditions: (onset day, abatement day or None)


def crs_signs(record: PatientRecord, upto: date, data: RiskData) -> CrsSigns:
    day0 = record.infusion_date
    if day0 is None:
        return CrsSigns((), (), (), None)

    def rel(d: date) -> int:
        return (d - day0).days

    temps = [t for t in record.series("temperature") if day0 <= t.local_date <= upto]
    grades = [g for g in record.crs_grades if day0 <= g.day_date <= upto]
    treated = [e for k in ("tocilizumab", "corticosteroid") for e in record.events_of(k) if day0 <= e.start <= upto]
    readings = [rel(t.local_date) for t in temps] + [rel(g.day_date) for g in grades]
    episodes = [
        (rel(e.onset), None if e.abatement is None or e.abatement > upto else rel(e.abatement))
        for e in record.crs_episodes
        if e.onset is not None and day0 <= e.onset <= upto
    ]
    return CrsSigns(
        tuple(sorted({rel(t.local_date) for t in temps if t.value >= data.fever_at_least})),
        tuple(sorted({rel(e.start) for e in treated})),
        tuple(sorted((rel(g.day_date), g.grade) for g in grades)),
        max(readings) if readings else None,
        tuple(sorted(episodes, key=lambda e: e[0])),
    )


def _crs_not_final(crs: CrsFeatures, signs: CrsSigns, landmark: int, rule: Mapping[str, Any]) -> str | None:
    """None when the CRS picture on the landmark is complete; else why it is not. `crs` is read up to the landmark."""
    at = f"by the {_day(landmark)} landmark"
    if crs.source in ("condition", "observation") and crs.max_grade != 0:
        if crs.undated_conditions:
            return "a CRS Condition without an onset date: the CRS timeline is incomplete"
        if crs.max_grade is None:
            return "CRS recorded without a grade: the maximum grade is unknown"
        if crs.onset_day is None:
            return "CRS recorded without an onset date"
        by_condition = crs.source == "condition"

        def in_episode(d: int) -> bool:
            return any(o <= d <= (d if a is None else a) for o, a in signs.episodes)

        if by_condition:  # a daily grade must fall within a Condition's course, at most the highest coded grade
            top = crs.condition_max_grade  # None: an unspecified Condition, graded by the daily grades
            graded = [
                (d, g) for d, g in signs.graded_days if g >= 1 and not ((top is None or g <= top) and in_episode(d))
            ]
            if graded:
                d, g = graded[0]
                return (
                    f"a daily CRS grade {g} on {_day(d)} that the CRS Conditions do not cover: "
                    "the CRS record is incomplete"
                )
        if crs.recovery_day is None and crs.resolved_undated:
            return (
                f"CRS from {_day(crs.onset_day)} is marked resolved without an abatement date: its recovery day is "
                "unknown and the model does not apply to this patient"
            )
        if crs.recovery_day is None:
            return f"CRS from {_day(crs.onset_day)} had not abated {at}: the model does not apply to this patient"
        start, end = crs.onset_day, crs.recovery_day

        def inside(d: int) -> bool:
            # within a coded episode's course (Conditions), or within onset-to-recovery (daily grades)
            return in_episode(d) if by_condition else start <= d <= end

        fever = [d for d in signs.fever_days if not inside(d)]
        if fever:
            return f"fever on {_day(fever[0])}, outside the recorded CRS: the CRS record is incomplete"
        treated = [d for d in signs.treatment_days if not inside(d)]
        if treated:
            return (
                f"tocilizumab or a corticosteroid on {_day(treated[0])}, outside the recorded CRS: "
                "the CRS record is incomplete"
            )
        return None
    if crs.source == "fever-derived":
        return f"fever from {_day(crs.onset_day or 0)} without a CRS record: the CRS grade is unknown"
    if crs.max_grade is None:
        return "no CRS record and no temperatures: whether CRS occurred is unknown"
    if signs.fever_days:
        return f"fever on {_day(signs.fever_days[0])} while no CRS grade above 0 is recorded: the record is incomplete"
    if signs.treatment_days:
        return "tocilizumab or a corticosteroid given while no CRS is recorded: the CRS record is incomplete"
    from_day = int(rule["no_crs_reading_from_day"])
    if signs.last_reading_day is None or signs.last_reading_day < from_day:
        return (
            f"no temperature or CRS grade charted from {_day(from_day)} to the landmark: 'no CRS' is not established "
            "(site_model.no_crs_reading_from_day)"
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
    signs: CrsSigns,
    landmark: int,
    rule: Mapping[str, Any],
) -> dict[str, ModelInput]:
    """Every feature a site model may use (`FEATURE_DEFINITIONS`); `crs`, `markers` and `signs` are read from day 0
    to the landmark day."""
    pending = _crs_not_final(crs, signs, landmark, rule)
    crs_part = (
        _crs_inputs(crs, markers, landmark)
        if pending is None
        else {name: ModelInput(name, None, pending) for name in _CRS_INPUTS}
    )
    return _baseline_inputs(hematotox, baseline_il6) | crs_part


def _baseline_inputs(hematotox: Hematotox, baseline_il6: LabResult | None) -> dict[str, ModelInput]:
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
    return out


def _crs_inputs(crs: CrsFeatures, markers: Mapping[str, MarkerPeak], landmark: int) -> dict[str, ModelInput]:
    out: dict[str, ModelInput] = {}
    # every CRS input says it is read on the landmark: a later episode is not in it, and a card must not suggest it is
    by = f"by {_day(landmark)}"
    where = crs.source_ids[0] if crs.source_ids else None

    def dated(day: int | None) -> str | None:
        d = crs.date_of(day)
        return None if d is None else d.isoformat()

    if crs.max_grade:
        onset, recovery = crs.onset_day or 0, crs.recovery_day or 0
        out["crs_grade"] = ModelInput(
            "crs_grade", float(crs.max_grade), None, dated(onset), where, f"maximum CRS grade {crs.max_grade} {by}"
        )
        out["crs_onset_day"] = ModelInput(
            "crs_onset_day", float(onset), None, dated(onset), where, f"CRS onset {_day(onset)}"
        )
        out["crs_recovery_day"] = ModelInput(
            "crs_recovery_day", float(recovery), None, dated(recovery), where, f"CRS recovery {_day(recovery)}"
        )
    else:  # no CRS is a value of 0 for all three (FEATURE_DEFINITIONS), which a card must not show as "day 0"
        for name in ("crs_grade", "crs_onset_day", "crs_recovery_day"):
            out[name] = ModelInput(name, 0.0, None, dated(landmark), None, f"no CRS {by}")
    given = crs.tocilizumab or crs.corticosteroid
    out["toci_or_steroid"] = ModelInput(
        "toci_or_steroid", float(given), shown=f"tocilizumab or steroids {by}: {'yes' if given else 'no'}"
    )
    for marker, label in (("ferritin", "ferritin"), ("il6", "IL-6")):
        peak = markers.get(marker)
        name = f"max_lg_{marker}"
        if peak is None or peak.max_lg is None or peak.max is None:
            out[name] = ModelInput(name, None, f"no {label} result above 0 from day 0 to the landmark")
        else:
            r = peak.result
            out[name] = ModelInput(
                name,
                peak.max_lg,
                None,
                None if r is None else r.time.isoformat(),
                None if r is None else r.source_id,
                f"peak {label} {peak.max:g} from day 0 {by} (lg {peak.max_lg:.2f})",
            )
    return out


def landmark_inputs(
    record: PatientRecord,
    as_of: date,
    hematotox: Hematotox,
    baseline_il6: LabResult | None,
    data: RiskData,
    landmark: int,
    rule: Mapping[str, Any],
) -> dict[str, ModelInput]:
    """The inputs as the record stood on the landmark day (from it on), or, before it, as it stands on `as_of` —
    then the CRS inputs are not yet known."""
    day0 = record.infusion_date
    if day0 is None or (as_of - day0).days < landmark:
        why = f"the CRS inputs are read on the {_day(landmark)} landmark (site_model.landmark_day)"
        return _baseline_inputs(hematotox, baseline_il6) | {name: ModelInput(name, None, why) for name in _CRS_INPUTS}
    on = day0 + timedelta(days=landmark)
    crs = crs_features(record, on, data)
    markers = marker_peaks(record, on, ("ferritin", "il6"))
    return site_inputs(hematotox, baseline_il6, crs, markers, crs_signs(record, on, data), landmark, rule)


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
            "landmark_day": m.landmark_day,
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


def _cautions(model: SiteModel, disease: str | None, rule: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    if disease is None and rule["unknown_disease_in_population"]:
        out.append(
            f"the patient's disease is not recorded here: scored because the site declares every patient it serves "
            f"{model.population_name} (thresholds site_model.unknown_disease_in_population)"
        )
    lo = float(model.validation["auc_cv_ci95"][0])
    if lo <= 0.5:
        out.append("the AUC's 95% CI reaches 0.5: discrimination is not shown to be better than chance")
    over_fitted = over_fitting_caution(model.training["events"], len(model.features))
    if over_fitted:
        out.append(over_fitted)
    return tuple(out)


def _first_day(model: SiteModel) -> int:
    """A model with a CRS-derived input is scored from its landmark; one on baseline inputs only, from day 0."""
    return model.landmark_day if set(model.features) & set(_CRS_INPUTS) else 0


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
        reasons.append("no CAR-T infusion recorded: days after infusion are unknown")
    elif day < _first_day(model):
        first = _first_day(model)
        reasons.append(
            f"{_day(day)}: the model is scored from its {_day(first)} landmark"
            if first
            else f"{_day(day)}: the model is scored from day 0"
        )
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
    return SiteScore(model, probability, tuple(reasons), used, _cautions(model, disease, rule))
