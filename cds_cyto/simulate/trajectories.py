"""Daily latent curves, the values charted on the schedule, and the supportive care those values trigger.

Each lineage follows baseline → decline after lymphodepletion → nadir → plateau → rise → recovered level, in log
space, with day-to-day biological variation (AR(1)) and assay variation per draw. Supportive care is decided after
infusion, on the first result of the day, by the seed-000 warning lines (clinical-reference §8): G-CSF at ANC
below the patient's trigger (given daily until ANC >= 1.0; it shortens the neutrophil plateau), red cells at
Hb < 60 g/L, platelets at PLT < 20; a transfusion raises the count transiently (additive, decaying).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from cds_cyto.simulate.catalogue import ANALYTES
from cds_cyto.simulate.latent import LineageLatent, PatientLatent, Persistence, linear_predictor
from cds_cyto.simulate.params import LINEAGES, DiseaseModel, Lineage
from cds_cyto.simulate.schedule import FIRST_DAY, LAST_DAY, Schedule

__all__ = ["INFUSION_MINUTE", "Course", "Event", "Sample", "run_course"]

INFUSION_MINUTE = 11 * 60
_PHI = 0.6  # day-to-day autocorrelation of biological variation
_GCSF_MINUTE, _RBC_MINUTE, _PLT_MINUTE = 10 * 60, 14 * 60, 15 * 60
_HB_EMERGENCY = 45.0  # g/L
_LOG_HB_FLOOR = math.log(30.0)  # g/L: lower is not survivable


@dataclass(frozen=True, slots=True)
class Sample:
    """One charted value in the analyte's canonical unit, as the lab reports it (rounded)."""

    analyte: str
    day: int
    minute: int
    value: float


@dataclass(frozen=True, slots=True)
class Event:
    """A therapy event: kind is a medication key of the catalogue, 'car_t_infusion' or a transfusion."""

    kind: str
    day: int
    minute: int
    units: int = 1


@dataclass(slots=True)
class Course:
    samples: list[Sample]
    events: list[Event]
    covariates: dict[str, float]  # the latent covariates, baseline flags replaced by their charted values
    persistence_logit: float
    persistent: bool
    holds: dict[Lineage, Persistence | None]


def observed_covariates(latent: PatientLatent, samples: list[Sample], ld_start: int) -> dict[str, float]:
    """The covariates as a site measures them: the baseline flags from the last charted value before
    lymphodepletion (clinical-reference §5: LD-10 ... LD-1), not from the latent baseline behind it."""
    out = dict(latent.covariates)

    def last(analyte: str) -> float | None:
        found = [s.value for s in samples if s.analyte == analyte and ld_start - 10 <= s.day <= ld_start - 1]
        return found[-1] if found else None

    for analyte, key, cut, below in (
        ("neutrophils", "baseline_anc_below_2_29", 2.29, True),
        ("hemoglobin", "baseline_hb_below_114_5", 114.5, True),
        ("il6", "baseline_il6_above_21_43", 21.43, False),
    ):
        value = last(analyte)
        if value is not None:
            out[key] = float(value < cut) if below else float(value > cut)
    return out


def _smooth(u: float) -> float:
    return u * u * (3.0 - 2.0 * u)


def _held(lv: float, p: Persistence | None, day: int) -> float:
    """Apply a persistent-cytopenia hold (ramped in over 3 days and out over 5) to a log value."""
    if p is None:
        return lv
    if p.start_day - 3.0 <= day < p.start_day:
        w = (day - (p.start_day - 3.0)) / 3.0
    elif p.start_day <= day <= p.end_day:
        w = 1.0
    elif p.end_day < day <= p.end_day + 5.0:
        w = 1.0 - (day - p.end_day) / 5.0
    else:
        return lv
    return lv - w * max(0.0, lv - math.log(p.level))


def _shape(lat: LineageLatent, t0: int, power: float, day: int, rise_start: float | None) -> float:
    """Log latent value on `day` before hold and noise; `rise_start` None means still at or before the nadir."""
    lb, ln_, lr = math.log(lat.baseline), math.log(lat.nadir), math.log(lat.recovered_level)
    if day <= t0:
        return lb
    if day < lat.nadir_day:
        return lb + (ln_ - lb) * math.pow((day - t0) / (lat.nadir_day - t0), power)
    if rise_start is None or day < rise_start:
        return ln_
    k = (day - rise_start) / lat.rise_days
    return lr if k >= 1.0 else ln_ + (lr - ln_) * _smooth(k)


def _round(analyte: str, value: float) -> float:
    return round(value, ANALYTES[analyte].decimals)


def run_course(rng: random.Random, latent: PatientLatent, model: DiseaseModel, schedule: Schedule) -> Course:
    t0 = min(min(days) for days in model.lymphodepletion.values())
    iv = model.interventions
    samples: list[Sample] = []
    events: list[Event] = [Event("car_t_infusion", 0, INFUSION_MINUTE)]
    for drug, days in model.lymphodepletion.items():
        events.extend(Event(drug, day, _hm(drug)) for day in days)

    lins = latent.lineages
    # Markers first: their charted values are covariates (baseline IL-6) of what happens to the counts.
    _chart_markers(rng, latent, schedule, samples)
    covariates = dict(latent.covariates)
    persistence_logit = math.nan
    persistent = False
    holds: dict[Lineage, Persistence | None] = dict.fromkeys(LINEAGES)
    noise = dict.fromkeys(LINEAGES, 0.0)
    lymph_noise = 0.0
    cbc_by_day: dict[int, list[int]] = {}
    for day, minute in schedule.cbc:
        cbc_by_day.setdefault(day, []).append(minute)

    # Neutrophil plateau clock: G-CSF makes it run faster (an accelerated-failure-time effect).
    anc_rise: float | None = None
    clock = 0.0
    gcsf_active = False
    gcsf_days: set[int] = set()
    transfusions: dict[Lineage, list[tuple[float, float]]] = {"hemoglobin": [], "platelets": []}  # (time, gain)
    decay = {"hemoglobin": iv.rbc_decay_days, "platelets": iv.platelet_decay_days}
    fixed_rise = {name: lins[name].nadir_day + lins[name].plateau_days for name in ("hemoglobin", "platelets")}
    powers = {name: model.lineages[name].decline_power for name in LINEAGES}

    for day in range(FIRST_DAY, LAST_DAY + 1):
        if day == 0:  # the baseline is charted; a hold starts on day 7 at the earliest
            covariates = observed_covariates(latent, samples, t0)
            persistence_logit = model.persistence.intercept + linear_predictor(model.persistence.effects, covariates)
            persistent = latent.persistence_u < 1.0 / (1.0 + math.exp(-persistence_logit))
            if persistent:
                holds = {name: lins[name].persistence for name in LINEAGES}
        for name in LINEAGES:
            noise[name] = _PHI * noise[name] + 0.8 * model.lineages[name].bio_sd * rng.gauss(0.0, 1.0)
        lymph_noise = _PHI * lymph_noise + 0.8 * 0.12 * rng.gauss(0.0, 1.0)
        boosted = (day in gcsf_days or day - 1 in gcsf_days) and anc_rise is not None and day >= anc_rise
        log_anc = _shape(lins["neutrophils"], t0, powers["neutrophils"], day, anc_rise)
        if boosted:
            log_anc += math.log(iv.gcsf_boost)
        log_anc = _held(log_anc, holds["neutrophils"], day) + noise["neutrophils"]
        log_hb = max(
            _LOG_HB_FLOOR,
            _held(
                _shape(lins["hemoglobin"], t0, powers["hemoglobin"], day, fixed_rise["hemoglobin"]),
                holds["hemoglobin"],
                day,
            )
            + noise["hemoglobin"],
        )
        log_plt = (
            _held(
                _shape(lins["platelets"], t0, powers["platelets"], day, fixed_rise["platelets"]),
                holds["platelets"],
                day,
            )
            + noise["platelets"]
        )
        log_lymph = math.log(latent.lymph_baseline) + _lymph_shape(latent, t0, day) + lymph_noise

        decided = False
        for minute in sorted(cbc_by_day.get(day, ())):
            t = day + minute / 1440.0
            anc = _round("neutrophils", math.exp(log_anc + model.lineages["neutrophils"].assay_cv * rng.gauss(0, 1)))
            hb = math.exp(log_hb + model.lineages["hemoglobin"].assay_cv * rng.gauss(0, 1))
            plt = math.exp(log_plt + model.lineages["platelets"].assay_cv * rng.gauss(0, 1))
            hb = _round("hemoglobin", hb + _transfused(transfusions["hemoglobin"], t, decay["hemoglobin"]))
            plt = _round("platelets", plt + _transfused(transfusions["platelets"], t, decay["platelets"]))
            lymph = _round("lymphocytes", math.exp(log_lymph + 0.06 * rng.gauss(0.0, 1.0)))
            other = 0.08 + 0.3 * math.exp(0.7 * log_anc) * math.exp(0.1 * rng.gauss(0.0, 1.0))
            wbc = _round("leukocytes", anc + lymph + other)
            pct = _round("neutrophils_pct", 100.0 * anc / wbc)
            samples.extend(
                (
                    Sample("neutrophils", day, minute, anc),
                    Sample("hemoglobin", day, minute, hb),
                    Sample("platelets", day, minute, plt),
                    Sample("leukocytes", day, minute, wbc),
                    Sample("lymphocytes", day, minute, lymph),
                    Sample("neutrophils_pct", day, minute, pct),
                )
            )
            if decided:
                continue
            decided = True  # supportive care is decided once a day, on the first result
            if latent.gcsf_user and day >= 1:
                if not gcsf_active and anc < latent.gcsf_trigger:
                    gcsf_active = True
                elif gcsf_active and anc >= iv.gcsf_stop:
                    gcsf_active = False
            # Anyone is transfused below 45 g/L; above it, only patients whose team follows the warning line.
            if day >= 0 and (hb < _HB_EMERGENCY or (latent.rbc_user and hb < iv.rbc_trigger)):
                units = 2 if hb < iv.rbc_trigger - 10.0 else 1
                events.append(Event("rbc_transfusion", day, _RBC_MINUTE, units))
                gain = units * iv.rbc_increment_g_per_l * math.exp(0.15 * rng.gauss(0.0, 1.0))
                transfusions["hemoglobin"].append((day + _RBC_MINUTE / 1440.0, gain))
            if latent.platelet_user and day >= 0 and plt < iv.platelet_trigger:
                events.append(Event("platelet_transfusion", day, _PLT_MINUTE))
                gain = iv.platelet_increment * math.exp(0.3 * rng.gauss(0.0, 1.0))
                transfusions["platelets"].append((day + _PLT_MINUTE / 1440.0, gain))
        if gcsf_active:
            gcsf_days.add(day)
            events.append(Event("gcsf", day, _GCSF_MINUTE))
        if anc_rise is None and day >= lins["neutrophils"].nadir_day:
            on_gcsf = day in gcsf_days or day - 1 in gcsf_days
            clock += iv.gcsf_time_acceleration if on_gcsf else 1.0
            if clock >= lins["neutrophils"].plateau_days:
                anc_rise = day + 1.0

    _chart_temperature(rng, latent, schedule, samples)
    samples.extend(
        Sample("crs_grade", day, minute, float(latent.crs.grade_on(day))) for day, minute in schedule.crs_grade
    )
    if latent.tumour_burden_pct is not None:
        samples.extend(
            Sample("marrow_blasts", day, minute, latent.tumour_burden_pct) for day, minute in schedule.marrow
        )
    for day in latent.crs.toci_days:
        events.append(Event("tocilizumab", day, 16 * 60))
    for day in latent.crs.steroid_days:
        events.append(Event("dexamethasone", day, 8 * 60))
    events.sort(key=lambda e: (e.day, e.minute, e.kind))
    samples.sort(key=lambda s: (s.day, s.minute))
    return Course(samples, events, covariates, persistence_logit, persistent, holds)


def _hm(drug: str) -> int:
    return 9 * 60 if drug == "fludarabine" else 11 * 60


def _transfused(given: list[tuple[float, float]], t: float, decay_days: float) -> float:
    return sum(gain * math.exp(-(t - at) / decay_days) for at, gain in given if at < t)


def _lymph_shape(latent: PatientLatent, t0: int, day: int) -> float:
    """Lymphodepletion, then the CAR-T expansion bump around day 9, then slow reconstitution."""
    depth = math.log(12.0)
    if day <= t0:
        drop = 0.0
    elif day <= 1:
        drop = -depth * (day - t0) / (1 - t0)
    elif day <= 21:
        drop = -depth
    elif day <= 60:
        drop = -depth + (depth - 0.4) * (day - 21) / 39.0
    else:
        drop = -0.4
    return drop + latent.lymph_expansion * math.exp(-((day - 9.0) ** 2) / 18.0)


def _chart_markers(rng: random.Random, latent: PatientLatent, schedule: Schedule, out: list[Sample]) -> None:
    for day, minute, panel in schedule.markers:
        t = day + minute / 1440.0
        for analyte in panel:
            course = latent.markers[analyte]
            value = 10 ** (course.lg_on(t) + 0.04 * rng.gauss(0.0, 1.0))
            floor = 10.0**-course.decimals
            out.append(Sample(analyte, day, minute, max(floor, round(value, course.decimals))))


def _chart_temperature(rng: random.Random, latent: PatientLatent, schedule: Schedule, out: list[Sample]) -> None:
    crs = latent.crs
    for day, minute in schedule.temperature:
        grade = crs.grade_on(day)
        diurnal = 0.25 * math.sin(2.0 * math.pi * (minute / 1440.0 - 0.5))
        calmed = any(td < day or (td == day and minute > 16 * 60) for td in crs.toci_days)
        if grade >= 1 and not calmed:
            value = 38.1 + 0.3 * (grade - 1) + 0.6 * abs(rng.gauss(0.0, 1.0)) + diurnal
        elif grade >= 1:
            value = 37.2 + 0.3 * rng.gauss(0.0, 1.0)
        else:
            value = latent.temperature_baseline + diurnal + 0.15 * rng.gauss(0.0, 1.0)
        out.append(Sample("temperature", day, minute, round(value, 1)))
