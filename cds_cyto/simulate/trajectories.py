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
from cds_cyto.simulate.latent import LineageLatent, PatientLatent, Persistence, episode_days, linear_predictor
from cds_cyto.simulate.params import LINEAGES, PROFILES, DiseaseModel, Lineage
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


def observed_covariates(
    latent: PatientLatent, samples: list[Sample], ld_start: int, first_dose_minute: int, peak_from_course: bool = True
) -> dict[str, float]:
    """The covariates as a site measures them: the baseline flags from the last charted value before
    lymphodepletion (clinical-reference §5: LD-10 ... LD, on the LD day only before the first dose), not from the
    latent baseline behind it, and the
    marker peaks (max lg) from the highest value charted from day 0 (clinical-reference §6), not the latent peak."""
    out = dict(latent.covariates)
    # The planted CRS-peak covariate is the course's peak (first day at the maximum daily grade, after onset for
    # some patients), which the engine reads from the daily grades (clinical-reference §6; core/risk/crs.py). The
    # committed cohort (`peak_from_course` False) keeps the onset day it was written with, byte for byte.
    crs = latent.crs
    if crs.onset_day is not None:
        # grade 1 has no rise: its first day at the maximum is the onset, whatever the drawn rise
        first_at_max = crs.onset_day + crs.daily_grades.index(crs.grade)
        out["crs_peak_day"] = float(first_at_max if peak_from_course else crs.onset_day)
    for analyte in ("ddimer", "il10", "ferritin"):
        peak = max((s.value for s in samples if s.analyte == analyte and s.day >= 0), default=0.0)
        if peak > 0:
            out[f"max_lg_{analyte}"] = math.log10(peak)

    def last(analyte: str) -> float | None:
        found = [
            s.value
            for s in samples
            if s.analyte == analyte
            and (ld_start - 10 <= s.day < ld_start or (s.day == ld_start and s.minute < first_dose_minute))
        ]
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


@dataclass(slots=True)
class _Plan:
    """A lineage's planted observed episodes (B-ALL), as charted by the seed-000 definition (clinical-reference §3).

    The first new-onset episode (first result below `theta` from day 0) lasts `days` (`latent.episode_days`, PH
    on the covariates as charted): results stay below `theta` until its recovery day and at or above from then.
    Episodes start by `last_onset`, so they are over by day 25; afterwards the count stays clear of `theta`. A
    persistence hold never lengthens that episode: it is a second episode, begun after the recovery run is
    complete; a pre-existing episode (severe at the last result before infusion, not analysed) is extended; and a
    lineage without an episode by `last_onset` gets its first one from the hold, placed so that its planted
    length covers day 28. A count is thus severe on day 28 exactly when the patient is persistent.
    """

    theta: float
    run: int  # results on different days that make a recovery
    lookback: int  # days a transfusion blocks recovery (the seed000 rule's lookback_days)
    last_onset: int
    days: int
    hold: Persistence | None
    hold_onset: int | None = None  # first day of the hold as the first episode (no episode by last_onset)
    onset: int | None = None
    recovery: int | None = None  # planned recovery day of the first episode (or the pre-existing one)
    analysed: bool = False  # the first episode is new-onset (analysed), not pre-existing
    hold_from: int | None = None  # a second episode: below theta on hold_from .. hold_to - 1
    hold_to: int | None = None

    def start(self, severe_before: bool, charted_days: set[int]) -> None:
        """Day 0: the last result before infusion is known. A hold that is to be the first episode starts so that
        it covers day 28 and, counts being charted less often after day 30, ends on a charted day if it can."""
        hold = self.hold
        if severe_before:
            self.onset = 0
            self.recovery = math.ceil(hold.end_day) if hold is not None else self.days
        elif hold is not None:
            lo = max(self.last_onset + 1, 29 - self.days)
            first = min(28, max(lo, math.ceil(hold.start_day)))
            fits = [d for d in range(first, lo - 1, -1) if d + self.days in charted_days]
            self.hold_onset = fits[0] if fits else first

    def begin(self, day: int) -> None:
        self.onset, self.recovery, self.analysed = day, day + self.days, True
        if self.hold is not None and day != self.hold_onset:
            start = max(math.ceil(self.hold.start_day), self.recovery + self.run)
            if start <= 28:
                self.hold_from, self.hold_to = start, math.ceil(self.hold.end_day)

    def side(self, day: int) -> int:
        """-1: keep below theta; +1: keep at or above; 0: free (before day 0, or before a first episode)."""
        if day < 0:
            return 0
        if self.onset is None:
            if self.hold_onset is not None and day >= self.hold_onset:
                self.begin(day)
            elif day <= self.last_onset:
                return 0
            else:
                return 1
        assert self.recovery is not None
        if day < self.recovery:
            return -1
        if self.hold_from is not None and self.hold_to is not None and self.hold_from <= day < self.hold_to:
            return -1
        return 1

    def note(self, day: int, value: float) -> None:
        """A result charted while free: the first one below theta starts the first episode."""
        if self.onset is None and day >= 0 and value < self.theta:
            self.begin(day)

    def strict(self, day: int) -> bool:
        """Below theta whatever a transfusion does: a hold (refractory), or an episode running past day 25."""
        if self.recovery is not None and day < self.recovery:
            return self.recovery > 25
        return self.hold_from is not None and self.hold_to is not None and self.hold_from <= day < self.hold_to

    def shape_hold(self, level: float) -> Persistence | None:
        """The hold as the latent curve should show it (for the curve's look and truth.json)."""
        if self.hold_from is not None and self.hold_to is not None:
            return Persistence(float(self.hold_from), float(self.hold_to), level)
        if self.hold is not None and self.onset is not None and self.recovery is not None and self.recovery > 25:
            return Persistence(float(max(self.onset, 3)), float(self.recovery), level)
        return None

    def may_transfuse(self, day: int) -> bool:
        """No transfusion within the look-back before a planned recovery of the analysed episode."""
        return not (self.analysed and self.recovery is not None and self.recovery - self.lookback - 1 < day)

    def rise_start(self, lat: LineageLatent) -> float | None:
        """When the latent rise should begin so that it crosses theta on the planned recovery day."""
        if self.recovery is None or self.recovery > 25:
            return None
        ln_, lr, lt = math.log(lat.nadir), math.log(lat.recovered_level), math.log(self.theta)
        if not ln_ < lt < lr:
            return None
        f = (lt - ln_) / (lr - ln_)
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _smooth(mid) < f else (lo, mid)
        return self.recovery + 0.5 - lo * lat.rise_days


def _steer(analyte: str, value: float, side: int, theta: float, floor: float = 0.0) -> float:
    """The charted (rounded) value on the planned side of theta: a value on the wrong side is folded back across it,
    its log-distance shrunk to 0.3, so the count hovers near theta rather than jumping."""
    step = 10.0 ** -ANALYTES[analyte].decimals
    if side < 0:
        if value >= theta:
            value = theta * math.exp(-0.03 - 0.3 * math.log(value / theta))
        out = _round(analyte, max(value, floor))
        return out if out < theta else _round(analyte, theta - step)
    if side > 0:
        if value < theta:
            value = theta * math.exp(0.03 + 0.3 * math.log(theta / max(value, 1e-9)))
        out = _round(analyte, value)
        return out if out >= theta else theta
    return _round(analyte, value)


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


def run_course(
    rng: random.Random, latent: PatientLatent, model: DiseaseModel, schedule: Schedule, peak_from_course: bool = True
) -> Course:
    t0 = min(min(days) for days in model.lymphodepletion.values())
    first_dose = min(_hm(drug) for drug, days in model.lymphodepletion.items() if t0 in days)
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

    # Lineages with a planted recovery model (B-ALL): their observed episodes are planned (see `_Plan`).
    plans: dict[Lineage, _Plan] = {}
    last_tx: dict[Lineage, int] = {}
    for day in range(FIRST_DAY, LAST_DAY + 1):
        if day == 0:  # the baseline is charted; a hold starts on day 7 at the earliest
            covariates = observed_covariates(latent, samples, t0, first_dose, peak_from_course)
            persistence_logit = model.persistence.intercept + linear_predictor(model.persistence.effects, covariates)
            persistent = latent.persistence_u < 1.0 / (1.0 + math.exp(-persistence_logit))
            if persistent:
                holds = {name: lins[name].persistence for name in LINEAGES}
            for name in LINEAGES:
                lm = model.lineages[name]
                if lm.episode_max_days <= 0:
                    continue
                rule = PROFILES["seed000"][name]
                length = episode_days(lm, lins[name].recovery_e, linear_predictor(lm.recovery_effects, covariates))
                plan = _Plan(
                    rule.threshold, rule.consecutive, rule.lookback_days, lm.last_onset_day, length, holds[name]
                )
                before = [x.value for x in samples if x.analyte == name and x.day < 0]
                plan.start(bool(before) and before[-1] < rule.threshold, set(cbc_by_day))
                plans[name] = plan
        for name, plan in plans.items():
            holds[name] = None if plan.hold is None else plan.shape_hold(plan.hold.level)
            if name == "neutrophils":
                anc_rise = plan.rise_start(lins[name]) or anc_rise
            elif (rise := plan.rise_start(lins[name])) is not None:
                fixed_rise[name] = rise
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
            anc = math.exp(log_anc + model.lineages["neutrophils"].assay_cv * rng.gauss(0, 1))
            hb = math.exp(log_hb + model.lineages["hemoglobin"].assay_cv * rng.gauss(0, 1))
            plt = math.exp(log_plt + model.lineages["platelets"].assay_cv * rng.gauss(0, 1))
            hb += _transfused(transfusions["hemoglobin"], t, decay["hemoglobin"])
            plt += _transfused(transfusions["platelets"], t, decay["platelets"])
            anc = _charted(plans.get("neutrophils"), "neutrophils", day, anc, None)
            hb = _charted(plans.get("hemoglobin"), "hemoglobin", day, hb, last_tx.get("hemoglobin"))
            plt = _charted(plans.get("platelets"), "platelets", day, plt, last_tx.get("platelets"))
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
            if (
                day >= 0
                and (hb < _HB_EMERGENCY or (latent.rbc_user and hb < iv.rbc_trigger))
                and _may_transfuse(plans.get("hemoglobin"), day, last_tx.get("hemoglobin"))
            ):
                last_tx["hemoglobin"] = day
                units = 2 if hb < iv.rbc_trigger - 10.0 else 1
                events.append(Event("rbc_transfusion", day, _RBC_MINUTE, units))
                gain = units * iv.rbc_increment_g_per_l * math.exp(0.15 * rng.gauss(0.0, 1.0))
                transfusions["hemoglobin"].append((day + _RBC_MINUTE / 1440.0, gain))
            if (
                latent.platelet_user
                and day >= 0
                and plt < iv.platelet_trigger
                and _may_transfuse(plans.get("platelets"), day, last_tx.get("platelets"))
            ):
                last_tx["platelets"] = day
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


def _charted(plan: _Plan | None, analyte: Lineage, day: int, value: float, last_tx: int | None) -> float:
    """The charted count: as the curve gives it, or steered to the side of the threshold its plan needs."""
    if plan is None:
        return _round(analyte, value)
    side = plan.side(day)
    if side < 0 and not plan.strict(day) and last_tx is not None and day - last_tx <= plan.lookback:
        side = 0  # a transfused count may show the transfusion: recovery is blocked these days anyway
    floor = _HB_EMERGENCY + 0.5 if analyte == "hemoglobin" and side < 0 and not plan.may_transfuse(day) else 0.0
    out = _steer(analyte, value, side, plan.theta, floor)
    if side == 0:
        plan.note(day, out)
    return out


def _may_transfuse(plan: _Plan | None, day: int, last_tx: int | None) -> bool:
    """Not within the look-back before a planned recovery; in a hold, at most once per look-back."""
    if plan is None:
        return True
    repeat = plan.strict(day) and last_tx is not None and day - last_tx <= plan.lookback
    return plan.may_transfuse(day) and not repeat


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
