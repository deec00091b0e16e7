"""One synthetic patient end to end: latent draw → course → data cut → charting with mess → truth → resources."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds_cyto.simulate.death import draw_death_day
from cds_cyto.simulate.fhir import Resource, ResourceFactory
from cds_cyto.simulate.latent import PatientLatent, draw_latent
from cds_cyto.simulate.mess import MESS_LEVELS, Charted, MessItem, apply_mess
from cds_cyto.simulate.params import LINEAGES, Disease, DiseaseModel, Lineage, model_for
from cds_cyto.simulate.plan import CohortSpec, PatientPlan, patient_rng, plan_cohort
from cds_cyto.simulate.schedule import draw_schedule
from cds_cyto.simulate.trajectories import Course, Event, run_course
from cds_cyto.simulate.truth import LabPoint, lineage_truth, not_recovered_day28, pht_day28

__all__ = ["SimulatedPatient", "dense_patient", "simulate_patient"]

_BLOCKING_KINDS = ("gcsf", "rbc_transfusion", "platelet_transfusion")
_MARKERS = ("crp", "ferritin", "il6", "il10", "ifng", "tnfa", "ddimer", "ldh")


@dataclass(slots=True)
class SimulatedPatient:
    plan: PatientPlan
    latent: PatientLatent
    birth_date: date
    lymphodepletion_start: int
    cut_day: int | None
    charted: list[Charted]
    events: list[Event]
    mess: list[MessItem]
    truth: dict[str, Any]
    course: Course
    truth_only: bool = False  # simulated for its truth alone: nothing was charted
    death_day: int | None = None  # died on this day after infusion (nothing charted after it)

    def resources(self) -> list[Resource]:
        """Patient, therapy events, CRS Condition, Observations — in that order."""
        if self.truth_only:
            raise ValueError("a truth-only patient has no charted Observations")
        f = ResourceFactory(self.plan.patient_id, self.plan.infusion_date, self.plan.utc_offset)
        died = None if self.death_day is None else self.plan.infusion_date + timedelta(days=self.death_day)
        out = [f.patient(self.latent.sex, self.birth_date, died)]
        ordinals: dict[str, int] = {}
        for e in self.events:
            ordinals[e.kind] = ordinals.get(e.kind, 0) + 1
            out.append(f.event(e, ordinals[e.kind]))
        crs = f.crs_condition(self.latent.crs, self.cut_day)
        if crs is not None:
            out.append(crs)
        out.extend(f.observation(c) for c in self.charted)
        return out


def _birth_date(infusion: date, age: int, days_since_birthday: int) -> date:
    try:
        birthday = infusion.replace(year=infusion.year - age)
    except ValueError:  # 29 February
        birthday = infusion.replace(year=infusion.year - age, day=28)
    return birthday - timedelta(days=days_since_birthday)


def simulate_patient(
    plan: PatientPlan, spec: CohortSpec, model: DiseaseModel | None = None, *, truth_only: bool = False
) -> SimulatedPatient:
    """Simulate one patient; `model` overrides the disease's published model (for tuning).

    `truth_only` (no mess only) skips charting: the truth is the same, computed straight from the samples, which
    is what the calibration report needs and about a quarter faster.
    """
    # early death off is the committed fixture's generator: written byte for byte as before issue 16's changes
    model = model or model_for(plan.disease, retuned=spec.early_death)
    latent = draw_latent(patient_rng(spec.seed, plan.index, "latent"), model)
    ld_start = min(min(days) for days in model.lymphodepletion.values())
    schedule = draw_schedule(
        patient_rng(spec.seed, plan.index, "schedule"),
        lymphodepletion_start=ld_start,
        infusion_weekday=plan.infusion_weekday,
        crs=latent.crs,
        marrow_biopsy=latent.tumour_burden_pct is not None,
        dense=spec.dense,
    )
    course = run_course(
        patient_rng(spec.seed, plan.index, "course"), latent, model, schedule, peak_from_course=spec.early_death
    )
    cut_day = None if spec.data_cut is None else (spec.data_cut - plan.infusion_date).days
    death_day = draw_death_day(patient_rng(spec.seed, plan.index, "death"), plan.disease) if spec.early_death else None
    if death_day is not None and cut_day is not None and death_day > cut_day:
        death_day = None  # after the data cut: not known yet
    if death_day is not None:
        cut_day = death_day  # nothing is charted after death: the record ends there, as a data cut would end it
    samples, events = course.samples, course.events
    if cut_day is not None:
        samples = [s for s in samples if s.day <= cut_day]
        events = [e for e in events if e.day <= cut_day]
    charted: list[Charted] = []
    items: list[MessItem] = []
    if truth_only:
        if spec.mess != "none":
            raise ValueError("truth_only needs mess 'none': mess changes which values count")
        counted = [(s.analyte, s.day, s.minute, s.value) for s in samples]
    else:
        mess_rng = patient_rng(spec.seed, plan.index, "mess")
        charted, items = apply_mess(
            mess_rng, plan.patient_id, samples, latent.sex, MESS_LEVELS[spec.mess], plan.infusion_weekday
        )
        counted = [(c.analyte, c.day, c.minute, c.canonical) for c in charted if c.counts and c.canonical is not None]
    birth = _birth_date(plan.infusion_date, latent.age, patient_rng(spec.seed, plan.index, "birth").randrange(365))
    patient = SimulatedPatient(
        plan, latent, birth, ld_start, cut_day, charted, events, items, {}, course, truth_only, death_day
    )
    patient.truth = _truth(patient, _series(counted))
    if not spec.early_death:  # a cohort without early death has the truth it had before death was modelled
        del patient.truth["death_day"]
    return patient


def _series(counted: list[tuple[str, int, int, float]]) -> dict[str, list[LabPoint]]:
    """Counted values per analyte, sorted; ANC derived as WBC x neutrophils % / 100 where a draw has no usable
    absolute count (clinical-reference §1) — e.g. when the ANC itself was an injected data problem."""
    series: dict[str, list[LabPoint]] = {}
    for analyte, day, minute, value in counted:
        series.setdefault(analyte, []).append((day, minute, value))
    have = {(d, m) for d, m, _ in series.get("neutrophils", [])}
    pct = {(d, m): v for d, m, v in series.get("neutrophils_pct", [])}
    for d, m, wbc in series.get("leukocytes", []):
        if (d, m) not in have and (d, m) in pct:
            series.setdefault("neutrophils", []).append((d, m, round(wbc * pct[(d, m)] / 100.0, 9)))
    for points in series.values():
        points.sort()
    return series


def _point(p: LabPoint | None) -> dict[str, float] | None:
    return None if p is None else {"day": p[0], "value": p[2]}


def _truth(p: SimulatedPatient, series: dict[str, list[LabPoint]]) -> dict[str, Any]:
    latent, crs, cut = p.latent, p.latent.crs, p.cut_day
    lineage_series: dict[Lineage, list[LabPoint]] = {name: series.get(name, []) for name in LINEAGES}
    event_days: dict[str, list[int]] = {k: sorted({e.day for e in p.events if e.kind == k}) for k in _BLOCKING_KINDS}
    by_profile = lineage_truth(lineage_series, event_days)
    # "As of" the last day with any counted result, as an evaluation of the charted data would be.
    as_of = max((pts[-1][0] for analyte, pts in series.items() if analyte != "crs_grade" and pts), default=-15)

    lineages: dict[str, Any] = {}
    for name in LINEAGES:
        points = lineage_series[name]
        before_ld = [q for q in points if q[0] < p.lymphodepletion_start]
        before_infusion = [q for q in points if q[0] < 0]
        window = [q for q in points if p.lymphodepletion_start <= q[0] <= 28]
        nadir = min(window, key=lambda q: (q[2], q[0], q[1])) if window else None
        entry: dict[str, Any] = {
            "baseline": _point(before_ld[-1] if before_ld else None),
            "last_before_infusion": _point(before_infusion[-1] if before_infusion else None),
            "nadir_ld_to_day28": _point(nadir),
        }
        for profile, per_lineage in by_profile.items():
            t = per_lineage[name]
            entry[profile] = {
                "severe_before_infusion": t.severe_before_infusion,
                "below_after_infusion_to_day30": t.below_after_infusion,
                "episodes": [ep.to_json() for ep in t.episodes],
            }
        lineages[name] = entry

    def charted_day(day: int | None) -> int | None:
        return None if day is None or (cut is not None and day > cut) else day

    baseline_markers: dict[str, float | None] = {}
    for analyte in _MARKERS:
        before = [v for d, _, v in series.get(analyte, []) if d < p.lymphodepletion_start]
        baseline_markers[analyte] = before[-1] if before else None
    max_lg: dict[str, float | None] = {}
    for analyte in _MARKERS:
        values = [v for d, _, v in series.get(analyte, []) if 0 <= d <= 28 and v > 0]
        max_lg[analyte] = round(math.log10(max(values)), 4) if values else None

    return {
        "patient_id": p.plan.patient_id,
        "disease": p.plan.disease,
        "sex": latent.sex,
        "age": latent.age,
        "birth_date": p.birth_date.isoformat(),
        "infusion_date": p.plan.infusion_date.isoformat(),
        "utc_offset": p.plan.utc_offset,
        "lymphodepletion_start_day": p.lymphodepletion_start,
        "data_cut_day": cut if p.death_day is None else None,
        "death_day": p.death_day,
        "complete": p.death_day is not None or cut is None or cut >= 100,
        "crs": {
            "max_grade": _charted_max_grade(latent, cut),
            "onset_day": charted_day(crs.onset_day),
            "peak_day": charted_day(crs.peak_day),
            "recovery_day": charted_day(crs.recovery_day),
            "tocilizumab_days": [d for d in crs.toci_days if charted_day(d) is not None],
            "steroid_days": [d for d in crs.steroid_days if charted_day(d) is not None],
        },
        "interventions": {
            "gcsf_days": event_days["gcsf"],
            "rbc_transfusion_days": event_days["rbc_transfusion"],
            "platelet_transfusion_days": event_days["platelet_transfusion"],
        },
        "baseline_markers": baseline_markers,
        "max_lg_markers_day0_28": max_lg,
        "lineages": lineages,
        "as_of_day": as_of,
        "pht_day28": {
            "seed000": pht_day28(lineage_series, as_of),
            "seed001": not_recovered_day28(by_profile["seed001"], as_of),
        },
        "latent": _latent_json(latent, p.course),
        "mess": [m.to_json() for m in p.mess],
    }


def _charted_max_grade(latent: PatientLatent, cut: int | None) -> int:
    crs = latent.crs
    if crs.onset_day is None or (cut is not None and crs.onset_day > cut):
        return 0
    grades = crs.daily_grades if cut is None else crs.daily_grades[: cut - crs.onset_day + 1]
    return max(grades)


def _latent_json(latent: PatientLatent, course: Course) -> dict[str, Any]:
    crs = latent.crs
    return {
        "reserve": round(latent.reserve, 4),
        "tumour_burden_pct": latent.tumour_burden_pct,
        "crs": {
            "severity": round(crs.severity, 4),
            "grade": crs.grade,
            "onset_day": crs.onset_day,
            "peak_day": crs.peak_day,
            "recovery_day": crs.recovery_day,
            "daily_grades": list(crs.daily_grades),
        },
        "covariates": {k: round(v, 4) for k, v in course.covariates.items()},
        "persistence": {"logit": round(course.persistence_logit, 4), "present": course.persistent},
        "lineages": {
            name: {
                "baseline": round(lat.baseline, 4),
                "nadir": round(lat.nadir, 4),
                "nadir_day": round(lat.nadir_day, 2),
                "plateau_days": round(lat.plateau_days, 2),
                "rise_days": round(lat.rise_days, 2),
                "recovered_level": round(lat.recovered_level, 4),
                "log_hazard": round(lat.log_hazard, 4),
                "persistence": None
                if (hold := course.holds[name]) is None
                else {
                    "start_day": round(hold.start_day, 2),
                    "end_day": round(hold.end_day, 2),
                    "level": round(hold.level, 4),
                },
            }
            for name, lat in latent.lineages.items()
        },
        "markers": {
            name: {
                "baseline": round(10**m.baseline_lg, 3),
                "peak": round(10**m.peak_lg, 3),
                "peak_lg": round(m.peak_lg, 4),
                "peak_day": round(m.peak_day, 2),
            }
            for name, m in latent.markers.items()
        },
        "supportive_care": {
            "gcsf_user": latent.gcsf_user,
            "gcsf_trigger": latent.gcsf_trigger,
            "rbc_user": latent.rbc_user,
            "platelet_user": latent.platelet_user,
        },
    }


def dense_patient(disease: Disease = "all", seed: int = 20261122, index: int = 0) -> SimulatedPatient:
    """A patient charted densely (about 1,500 Observations): the project's benchmark patient."""
    spec = CohortSpec(n=index + 1, disease=disease, seed=seed, dense=True, early_death=False)  # its ~1,500 Observations
    return simulate_patient(plan_cohort(spec)[index], spec)
