"""Patient-level latent variables: who the patient is and how the course will run.

Everything that makes one patient differ from another is drawn here, once, from the disease model in
`params.py`; `trajectories.py` turns it into daily curves and charted values.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from statistics import NormalDist

from cds_cyto.simulate.params import (
    LINEAGES,
    PROFILES,
    CrsModel,
    Disease,
    DiseaseModel,
    Effect,
    Lineage,
    LineageModel,
    MarkerModel,
)

__all__ = [
    "CrsCourse",
    "LineageLatent",
    "MarkerCourse",
    "PatientLatent",
    "Persistence",
    "draw_latent",
    "episode_days",
    "linear_predictor",
]

_NORMAL = NormalDist()
_NATURAL_RECOVERY_BY = 21.0  # day by which a lineage without planted recovery effects has risen to its recovered level


@dataclass(frozen=True, slots=True)
class CrsCourse:
    grade: int  # maximum ASTCT grade, 0 = no CRS
    severity: float  # the standard-normal latent the grade is cut from
    onset_day: int | None
    peak_day: int | None  # first day at the maximum grade
    recovery_day: int | None  # first day without CRS (abatement)
    daily_grades: tuple[int, ...]  # grade on onset_day, onset_day + 1, ..., recovery_day - 1
    toci_days: tuple[int, ...]
    steroid_days: tuple[int, ...]

    def grade_on(self, day: int) -> int:
        if self.onset_day is None or day < self.onset_day:
            return 0
        offset = day - self.onset_day
        return self.daily_grades[offset] if offset < len(self.daily_grades) else 0

    @property
    def treated(self) -> bool:
        return bool(self.toci_days or self.steroid_days)


@dataclass(frozen=True, slots=True)
class MarkerCourse:
    """An inflammatory marker's latent log10 curve: flat, linear rise to the peak, exponential decay."""

    analyte: str
    baseline_lg: float
    peak_lg: float
    rise_start_day: float
    peak_day: float
    half_life_days: float
    decimals: int

    def lg_on(self, day: float) -> float:
        if day <= self.rise_start_day:
            return self.baseline_lg
        excess = self.peak_lg - self.baseline_lg
        if day <= self.peak_day:
            return self.baseline_lg + excess * (day - self.rise_start_day) / (self.peak_day - self.rise_start_day)
        return self.baseline_lg + excess * math.pow(0.5, (day - self.peak_day) / self.half_life_days)


@dataclass(frozen=True, slots=True)
class Persistence:
    """The lineage is held at `level` (canonical unit) from `start_day` to `end_day`."""

    start_day: float
    end_day: float
    level: float


@dataclass(frozen=True, slots=True)
class LineageLatent:
    baseline: float  # before lymphodepletion
    nadir: float
    nadir_day: float
    plateau_days: float  # Weibull PH draw, before G-CSF shortens it
    rise_days: float
    recovered_level: float
    log_hazard: float  # linear predictor of the plateau (recovery) hazard
    recovery_e: float  # the Exp(1) draw behind a planted episode length (`episode_days`), apart from the plateau's
    persistence: Persistence | None  # the hold applied if the patient turns out persistent (see `run_course`)


@dataclass(frozen=True, slots=True)
class PatientLatent:
    disease: Disease
    sex: str
    age: int
    reserve: float  # shared marrow-reserve factor, standard normal, higher = better
    tumour_burden_pct: float | None
    crs: CrsCourse
    markers: dict[str, MarkerCourse]
    lineages: dict[Lineage, LineageLatent]
    covariates: dict[str, float]
    persistence_u: float  # uniform draw: persistent when below the logistic probability of the observed covariates
    gcsf_user: bool
    gcsf_trigger: float
    rbc_user: bool
    platelet_user: bool
    lymph_baseline: float
    lymph_expansion: float  # log-amplitude of the CAR-T expansion bump in lymphocytes
    temperature_baseline: float


def linear_predictor(effects: tuple[Effect, ...], covariates: dict[str, float]) -> float:
    return sum(e.per_unit * (covariates[e.covariate] - e.centre) for e in effects)


def episode_days(lm: LineageModel, e: float, eta: float) -> int:
    """Planted length (days) of an observed episode, onset to recovery, for the Exp(1) draw `e`.

    Proportional hazards with a baseline of bounded support: L = c * w / (1 + w), w = s0 * (e * exp(-eta) /
    ln 2) ** (1 / k), s0 = m / (c - m), so S(t | eta) = exp(-H0(t) * exp(eta)) with H0(t) = ln 2 * ((t / (c - t))
    / s0) ** k: the hazard ratio per unit of a covariate is exp(per_unit) exactly, the median at eta = 0 is m
    (`plateau_scale`), and no length reaches c (`episode_max_days`). Charted days are whole, so the length is
    rounded up (grouped times of the same PH model).
    """
    c, m, k = lm.episode_max_days, lm.plateau_scale, lm.plateau_shape
    w = m / (c - m) * math.pow(e * math.exp(-eta) / math.log(2.0), 1.0 / k)
    return max(1, math.ceil(c * w / (1.0 + w)))


def _age(rng: random.Random, m: DiseaseModel) -> int:
    years = m.age_min + (m.age_median - m.age_min) * math.exp(m.age_log_sd * rng.gauss(0.0, 1.0))
    return int(min(years, m.age_max))


def _baseline(lm: LineageModel, z: float) -> float:
    sd = lm.baseline_sd_low if z < 0 else lm.baseline_sd_high
    if lm.baseline_scale == "log":
        return lm.baseline_median * math.exp(sd * z)
    return lm.baseline_median * max(0.35, 1.0 + sd * z)


def _crs(rng: random.Random, cm: CrsModel, severity: float) -> CrsCourse:
    cumulative = 0.0
    grade = 0
    for g, p in enumerate(cm.grade_probabilities[:-1]):
        cumulative += p
        if severity < _NORMAL.inv_cdf(cumulative):
            grade = g
            break
    else:
        grade = 4
    # Draws happen whatever the grade, so one patient's later draws do not depend on their CRS grade.
    onset_z, peak_u, duration_z, treat_u, second_u, steroid_u = (
        rng.gauss(0.0, 1.0),
        rng.random(),
        rng.gauss(0.0, 1.0),
        rng.random(),
        rng.random(),
        rng.random(),
    )
    if grade == 0:
        return CrsCourse(0, severity, None, None, None, (), (), ())
    onset = math.exp(math.log(cm.onset_median_day) + cm.onset_severity_slope * severity + cm.onset_log_sd * onset_z)
    onset_day = int(min(onset, 14.0))
    rise = round(-(0.4 + 0.6 * (grade - 1)) * math.log(1.0 - peak_u))  # exponential, longer for higher grades
    peak_day = onset_day + rise
    duration = math.exp(math.log(cm.duration_median_by_grade[grade - 1]) + cm.duration_log_sd * duration_z)
    recovery_day = max(onset_day + max(1, round(duration)), peak_day + 1)
    days = recovery_day - onset_day
    hold_end = peak_day + max(0, round((recovery_day - peak_day) * 0.3))
    grades: list[int] = []
    for day in range(onset_day, recovery_day):
        if day < peak_day:
            g = 1 + (grade - 1) * (day - onset_day) // max(1, peak_day - onset_day)
        elif day <= hold_end:
            g = grade
        else:
            g = max(1, grade - (grade * (day - hold_end)) // max(1, recovery_day - hold_end))
        grades.append(g)
    assert len(grades) == days
    p_treat = cm.toci_or_steroid_severe if grade >= 3 else cm.toci_or_steroid_mild
    toci: tuple[int, ...] = ()
    steroid: tuple[int, ...] = ()
    if treat_u < p_treat:
        start = next((onset_day + i for i, g in enumerate(grades) if g >= 2), peak_day)
        toci = (start, start + 1) if second_u < 0.3 else (start,)
        if grade >= 3 and steroid_u < 0.7:
            steroid = (start, start + 1, start + 2)
    return CrsCourse(grade, severity, onset_day, peak_day, recovery_day, tuple(grades), toci, steroid)


def _marker(rng: random.Random, mm: MarkerModel, crs: CrsCourse) -> MarkerCourse:
    base = mm.baseline_lg_median + mm.baseline_lg_sd * rng.gauss(0.0, 1.0)
    rise = max(0.0, mm.peak_gain_lg + mm.peak_severity_slope * crs.severity + mm.peak_lg_sd * rng.gauss(0.0, 1.0))
    if mm.ceiling is not None:
        base = min(base, math.log10(mm.ceiling) - 1.0)
        rise = min(rise, math.log10(mm.ceiling) - base)
    if crs.peak_day is None or crs.onset_day is None:
        rise_start, peak = 1.0, 3.0 + mm.lag_days
    else:
        rise_start, peak = crs.onset_day - 1.0, crs.peak_day + mm.lag_days
    return MarkerCourse(
        mm.analyte, base, base + rise, rise_start, max(peak, rise_start + 1.0), mm.half_life_days, mm.decimals
    )


def _covariates(
    tumour_burden: float | None,
    crs: CrsCourse,
    markers: dict[str, MarkerCourse],
    baselines: dict[Lineage, float],
) -> dict[str, float]:
    return {
        "tumour_burden_pct": tumour_burden or 0.0,
        "max_lg_ddimer": markers["ddimer"].peak_lg,
        "max_lg_il10": markers["il10"].peak_lg,
        "max_lg_ferritin": markers["ferritin"].peak_lg,
        "crs_onset_day": float(crs.onset_day or 0),
        "crs_peak_day": float(crs.peak_day or 0),
        "crs_recovery_day": float(crs.recovery_day or 0),
        "toci_or_steroid": 1.0 if crs.treated else 0.0,
        "crs_grade_3_4": 1.0 if crs.grade >= 3 else 0.0,
        "baseline_anc_below_2_29": 1.0 if baselines["neutrophils"] < 2.29 else 0.0,
        "baseline_hb_below_114_5": 1.0 if baselines["hemoglobin"] < 114.5 else 0.0,
        "baseline_il6_above_21_43": 1.0 if 10 ** markers["il6"].baseline_lg > 21.43 else 0.0,
    }


def draw_latent(rng: random.Random, m: DiseaseModel) -> PatientLatent:
    """Draw one patient. The order of draws is fixed, so a seed always gives the same patient."""
    sex = "male" if rng.random() < m.male_fraction else "female"
    age = _age(rng, m)
    z_burden = rng.gauss(0.0, 1.0)
    tumour_burden: float | None = None
    if m.tumour_burden_median is not None:
        centre = math.log(m.tumour_burden_median / (100.0 - m.tumour_burden_median))
        tumour_burden = round(100.0 / (1.0 + math.exp(-(centre + m.tumour_burden_spread * z_burden))), 1)
        reserve = -0.5 * z_burden + math.sqrt(0.75) * rng.gauss(0.0, 1.0)
    else:
        reserve = rng.gauss(0.0, 1.0)
    rho = m.crs.severity_on_tumour_burden
    severity = rho * z_burden + math.sqrt(1.0 - rho * rho) * rng.gauss(0.0, 1.0)
    crs = _crs(rng, m.crs, severity)
    markers = {mm.analyte: _marker(rng, mm, crs) for mm in m.markers}

    baselines: dict[Lineage, float] = {}
    for name in LINEAGES:
        lm = m.lineages[name]
        z = lm.reserve_loading * reserve + math.sqrt(1.0 - lm.reserve_loading**2) * rng.gauss(0.0, 1.0)
        baselines[name] = _baseline(lm, z)
    covariates = _covariates(tumour_burden, crs, markers, baselines)

    # Whether the patient is persistent is decided in `trajectories.run_course`, once the covariates are known as
    # charted (baseline counts and IL-6 are lab values with noise): the planted logistic model is then the model of
    # what a site observes. Here only its uniform draw and the lineages a persistence would hold.
    persistence_u = rng.random()
    chosen = {name: rng.random() < m.persistence.lineage_probabilities[name] for name in LINEAGES}
    if not any(chosen.values()):
        chosen["neutrophils"] = True

    lineages: dict[Lineage, LineageLatent] = {}
    for name in LINEAGES:
        lm = m.lineages[name]
        b = baselines[name]
        depth = lm.depth_median * math.exp(lm.depth_crs_loading * severity + lm.depth_log_sd * rng.gauss(0.0, 1.0))
        deep_u, deep_z = rng.random(), rng.gauss(0.0, 1.0)
        # Weights with mean 1: E[exp(a Z)] = exp(a^2 / 2) for a standard-normal Z.
        k = lm.deep_baseline_loading
        low_baseline = -k * math.log(b / lm.baseline_median) / lm.baseline_sd_low - k * k / 2.0
        if deep_u < lm.deep_fraction * math.exp(0.5 * severity - 0.125 + low_baseline):
            depth = lm.deep_depth_median * math.exp(0.4 * deep_z)
        nadir = b * math.exp(-depth) * math.pow(lm.baseline_median / b, 1.0 - lm.nadir_baseline_exponent)
        nadir_day = min(18.0, max(2.0, rng.gauss(lm.nadir_day_mean, lm.nadir_day_sd)))
        eta = linear_predictor(lm.recovery_effects, covariates)
        plateau = lm.plateau_scale * (rng.expovariate(1.0) * math.exp(-eta)) ** (1.0 / lm.plateau_shape)
        rise = lm.rise_days * math.exp(0.3 * rng.gauss(0.0, 1.0))
        if not lm.recovery_effects and nadir_day + plateau + rise > _NATURAL_RECOVERY_BY:
            # No planted recovery model: the natural course is over by day 21, so that a count not recovered at
            # day 28 is a persistence (the planted logistic model), never a slow natural rise.
            squeeze = (_NATURAL_RECOVERY_BY - nadir_day) / (plateau + rise)
            plateau, rise = plateau * squeeze, rise * squeeze
        spread = lm.recovered_log_sd * rng.gauss(0.0, 1.0)
        level = (b * lm.recovered_median if lm.recovered_is_fraction else lm.recovered_median) * math.exp(spread)
        # A recovered count stays clear of the persistence threshold (3.5 SD of day-to-day and assay variation), so
        # that only a persistence, never noise around a low recovered level, is what a site sees as a lineage
        # severe or not recovered at day 28: the planted persistence model is then the model of that outcome.
        threshold = PROFILES[m.persistence.threshold_profile][name].threshold
        level = max(level, threshold * math.exp(3.5 * math.hypot(lm.bio_sd, lm.assay_cv)))
        held: Persistence | None = None
        lo_f, hi_f = m.persistence.level_fraction[name]
        lo_d, hi_d = m.persistence.start_day
        u_level, u_start, tail = rng.random(), rng.random(), rng.expovariate(1.0)
        # The planted episode length has its own draw: were it the plateau's, whether a count near the threshold
        # dips below it during the plateau (and so has an episode at all) would depend on that length. Drawn only
        # for such a lineage, so that a disease without one keeps its stream.
        e = rng.expovariate(1.0) if lm.episode_max_days > 0 else math.nan
        if chosen[name]:
            held = Persistence(
                start_day=lo_d + (hi_d - lo_d) * u_start,
                end_day=30.0 + m.persistence.extra_days_after_28 * tail,
                level=threshold * (lo_f + (hi_f - lo_f) * u_level),
            )
        lineages[name] = LineageLatent(b, nadir, nadir_day, plateau, rise, level, eta, e, held)

    iv = m.interventions
    gcsf_user = rng.random() < iv.gcsf_probability
    discretionary = rng.random() < iv.gcsf_discretionary_probability
    return PatientLatent(
        disease=m.disease,
        sex=sex,
        age=age,
        reserve=reserve,
        tumour_burden_pct=tumour_burden,
        crs=crs,
        markers=markers,
        lineages=lineages,
        covariates=covariates,
        persistence_u=persistence_u,
        gcsf_user=gcsf_user,
        gcsf_trigger=iv.gcsf_discretionary_trigger if discretionary else iv.gcsf_trigger,
        rbc_user=rng.random() < iv.rbc_probability,
        platelet_user=rng.random() < iv.platelet_probability,
        lymph_baseline=(1.0 if m.disease == "all" else 0.8) * math.exp(0.5 * rng.gauss(0.0, 1.0)),
        lymph_expansion=0.3 + 2.2 * rng.random(),
        temperature_baseline=36.7 + 0.2 * rng.gauss(0.0, 1.0),
    )
