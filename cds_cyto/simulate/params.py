"""Calibration parameters of the synthetic cohort, as data, each with the seed passage it comes from.

Three kinds of numbers live here:

- *published* numbers (targets, effect sizes, schedules) quoted from the seed papers, with the place they are
  stated;
- *assumptions* where the seeds are silent (said in a comment, or ``source=ASSUMED``), kept plausible;
- *tuned* values: the knobs listed in `tuning.KNOBS` (one per target: baseline medians and spreads, fall depths,
  nadir days, persistence intercepts, supportive-care probabilities), found by simulating 2 x 4000 patients
  (seed 77) and moving each knob until its statistic sits on the published number. After changing the model, run
  `python -m cds_cyto.simulate.tuning` and paste its values here.

Seed 000: new-onset severe cytopenia after CAR-T in 76 patients with r/r B-ALL (single centre, CD19/CD22).
Seed 001: Qiu et al., Oncol Lett 2023, doi:10.3892/ol.2023.13924 — cytopenia after CAR-T in 63 patients with
r/r B-NHL.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ASSUMED",
    "DISEASES",
    "LINEAGES",
    "PROFILES",
    "SEED000",
    "SEED001",
    "TARGETS",
    "CrsModel",
    "Disease",
    "DiseaseModel",
    "Effect",
    "EpisodeRule",
    "InterventionModel",
    "Lineage",
    "LineageModel",
    "MarkerModel",
    "PersistenceModel",
    "Target",
    "TargetKind",
    "model_for",
]

Disease = Literal["all", "nhl"]
Lineage = Literal["neutrophils", "hemoglobin", "platelets"]
TargetKind = Literal["proportion", "median", "median_day"]

DISEASES: tuple[Disease, ...] = ("all", "nhl")
LINEAGES: tuple[Lineage, ...] = ("neutrophils", "hemoglobin", "platelets")

SEED000 = "seed 000 (r/r B-ALL, n=76)"
SEED001 = "seed 001 (r/r B-NHL, n=63; Qiu et al., Oncol Lett 2023)"
ASSUMED = "assumption: the seeds are silent"


# ---------------------------------------------------------------------------------------------------------
# Ground-truth definitions (clinical-reference.md §2, §3): what the truth computation applies.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EpisodeRule:
    """One lineage's episode definition under one profile.

    Below = value < threshold. Recovery = the first of `consecutive` results on different days that are all
    ≥ threshold (each day judged on its lowest result) with no `blocking` event from `lookback_days` before the
    first of them to the last of them.
    """

    profile: str
    lineage: Lineage
    threshold: float
    consecutive: int
    blocking: tuple[str, ...]
    lookback_days: int
    source: str


PROFILES: dict[str, dict[Lineage, EpisodeRule]] = {
    "seed000": {
        "neutrophils": EpisodeRule(
            "seed000",
            "neutrophils",
            0.5,
            3,
            (),
            7,
            "clinical-reference §2-3; seed 000 Methods 'Definitions of HT and Hematologic Recovery' "
            "(SN ANC < 0.5; recovery 3 consecutive days, irrespective of G-CSF)",
        ),
        "hemoglobin": EpisodeRule(
            "seed000",
            "hemoglobin",
            60.0,
            1,
            ("rbc_transfusion",),
            7,
            "clinical-reference §3 (one result ≥ 60 g/L, no red cells in the 7 days before: project default)",
        ),
        "platelets": EpisodeRule(
            "seed000",
            "platelets",
            20.0,
            3,
            ("platelet_transfusion",),
            7,
            "clinical-reference §3 (3 results ≥ 20, no platelet transfusion in the 7 days before: CIBMTR)",
        ),
    },
    "seed001": {
        "neutrophils": EpisodeRule(
            "seed001",
            "neutrophils",
            1.0,
            3,
            ("gcsf",),
            7,
            "clinical-reference §3; seed 001 Methods 'Cytopenia classification and hematologic recovery' "
            "(3 consecutive days without G-CSF; the 7-day look-back is this simulator's reading)",
        ),
        "hemoglobin": EpisodeRule(
            "seed001",
            "hemoglobin",
            80.0,
            3,
            ("rbc_transfusion",),
            7,
            "clinical-reference §3; seed 001 Methods (Hb ≥ 80 g/L, 3 consecutive days, no transfusion)",
        ),
        "platelets": EpisodeRule(
            "seed001",
            "platelets",
            50.0,
            3,
            ("platelet_transfusion",),
            7,
            "clinical-reference §3; seed 001 Methods (PLT ≥ 50, 3 consecutive days, no transfusion)",
        ),
    },
}


# ---------------------------------------------------------------------------------------------------------
# Generative model.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Effect:
    """A covariate's effect on a latent rate: log-hazard (recovery) or log-odds (persistence) per unit.

    The covariate enters as (value - centre), so the intercept or scale belongs to a patient at the centre.
    """

    covariate: str
    per_unit: float  # log-hazard ratio or log-odds ratio per unit of the covariate
    centre: float
    published: str  # the published ratio, as printed
    source: str


@dataclass(frozen=True, slots=True)
class LineageModel:
    """Latent course of one lineage: baseline → decline after lymphodepletion → nadir → plateau → rise.

    nadir = baseline * exp(-D): the depth D (natural-log units) is log-normal,
    D = depth_median * exp(depth_crs_loading * CRS severity + depth_log_sd * Z), so a count always falls; a
    `deep_fraction` of patients (weighted by exp(0.5 * CRS severity - loading * standardised log baseline)) fall
    deeply instead, D = deep_depth_median * exp(0.4 * Z') — platelets in B-NHL fall a little in most patients and
    a lot in a quarter, more often with severe CRS and a low baseline (seed 001, 'Factors associated with grade
    >= 3 cytopenia').
    The plateau (days held near the nadir before the rise) is Weibull with proportional hazards:
    P = plateau_scale * (E * exp(-eta)) ** (1 / plateau_shape), E ~ Exp(1), eta = sum of `recovery_effects`.

    With `episode_max_days` > 0 (a planted recovery model, B-ALL) the plateau only shapes the curve: what is
    planted is the *observed* episode, first severe day to recovery day by the seed-000 rules. Its length is drawn
    with proportional hazards on the covariates as charted, from a baseline with median `plateau_scale` (eta = 0),
    shape `plateau_shape` and support below `episode_max_days` (see `latent.episode_days`), and the charted counts
    are steered to cross back exactly then. A first episode starts by `last_onset_day`, so with
    `last_onset_day` + `episode_max_days` <= 25 every natural episode is over (and its recovery run complete)
    before day 28: a count severe on day 28 is a persistence, the planted logistic model of PHT.
    """

    baseline_median: float
    baseline_scale: Literal["log", "linear"]  # spread on the log scale (counts) or linear scale (Hb)
    baseline_sd_low: float  # below the median (skewed: long low tail, bounded high tail)
    baseline_sd_high: float
    reserve_loading: float  # correlation of log baseline with the shared marrow-reserve factor
    decline_power: float  # shape of the decline from lymphodepletion to nadir (u ** power)
    depth_median: float
    depth_log_sd: float
    depth_crs_loading: float
    nadir_day_mean: float
    nadir_day_sd: float
    plateau_scale: float
    plateau_shape: float
    rise_days: float
    recovered_median: float  # absolute level (ALL: remission marrow) or fraction of baseline (NHL)
    recovered_is_fraction: bool
    recovered_log_sd: float
    nadir_baseline_exponent: float  # 1: the nadir scales with the baseline; < 1: less (a floor effect)
    deep_fraction: float  # share of patients with a deep fall instead (more likely with severe CRS)
    deep_depth_median: float
    deep_baseline_loading: float  # deep falls are more likely with a low baseline (per SD of log baseline)
    bio_sd: float  # day-to-day biological variation (log scale, AR(1) with phi 0.6)
    assay_cv: float  # measurement variation (log scale)
    recovery_effects: tuple[Effect, ...] = ()
    episode_max_days: float = 0.0  # > 0: the observed episode length is planted (see above)
    last_onset_day: int = 0


@dataclass(frozen=True, slots=True)
class CrsModel:
    """CRS grade from a standard-normal severity by fixed cut points, so the grade mix is exact."""

    grade_probabilities: tuple[float, float, float, float, float]  # none, 1, 2, 3, 4
    onset_median_day: float
    onset_log_sd: float
    onset_severity_slope: float  # log-days per SD of severity (severe CRS starts earlier)
    duration_median_by_grade: tuple[float, float, float, float]  # grades 1..4, days onset → recovery
    duration_log_sd: float
    toci_or_steroid_mild: float  # P(tocilizumab/corticosteroid | grade 1-2)
    toci_or_steroid_severe: float  # P(... | grade 3-4)
    severity_on_tumour_burden: float  # correlation of severity with marrow tumour burden (ALL)
    source: str


@dataclass(frozen=True, slots=True)
class MarkerModel:
    """An inflammatory marker: log10 baseline, log10 rise at the CRS peak = gain + slope * severity (>= 0)."""

    analyte: str
    baseline_lg_median: float
    baseline_lg_sd: float
    peak_gain_lg: float
    peak_severity_slope: float
    peak_lg_sd: float
    lag_days: float  # peak relative to the CRS peak
    half_life_days: float
    decimals: int
    ceiling: float | None = None  # highest latent peak (natural units): kept well inside the plausible bounds


@dataclass(frozen=True, slots=True)
class PersistenceModel:
    """Persistent (or late, second-phase) cytopenia through day 28, by a logistic model.

    logit P = intercept + sum(effects). Affected lineages are drawn independently with `lineage_probabilities`
    (at least one); their count is held below `level_fraction` x the profile threshold from `start_day` to
    `end_day`.
    """

    intercept: float
    effects: tuple[Effect, ...]
    lineage_probabilities: dict[Lineage, float]
    level_fraction: dict[Lineage, tuple[float, float]]  # hold level as a fraction of the threshold
    start_day: tuple[float, float]
    extra_days_after_28: float  # mean of the exponential tail beyond day 30
    threshold_profile: str


@dataclass(frozen=True, slots=True)
class InterventionModel:
    """Supportive care by the seed-000 warning lines (clinical-reference §8), given per patient with a probability."""

    gcsf_probability: float  # P(patient receives G-CSF at ANC < 0.5)
    gcsf_trigger: float
    gcsf_discretionary_probability: float  # P(G-CSF already at ANC < discretionary trigger)
    gcsf_discretionary_trigger: float
    gcsf_stop: float  # G-CSF is given daily until a count >= this
    gcsf_time_acceleration: float  # plateau clock runs this much faster on G-CSF days (AFT factor)
    gcsf_boost: float  # ANC multiplier on G-CSF days once the marrow is recovering
    rbc_probability: float
    rbc_trigger: float
    rbc_increment_g_per_l: float  # per unit
    rbc_decay_days: float  # e-folding time of transfused red cells
    platelet_probability: float
    platelet_trigger: float
    platelet_increment: float
    platelet_decay_days: float
    source: str


@dataclass(frozen=True, slots=True)
class DiseaseModel:
    disease: Disease
    label: str
    male_fraction: float
    age_min: float
    age_median: float
    age_max: float
    age_log_sd: float
    lymphodepletion: dict[str, tuple[int, ...]]  # drug → days relative to infusion
    lineages: dict[Lineage, LineageModel]
    crs: CrsModel
    markers: tuple[MarkerModel, ...]
    persistence: PersistenceModel
    interventions: InterventionModel
    tumour_burden_median: float | None  # % marrow blasts (ALL)
    tumour_burden_spread: float  # logit-scale SD
    sources: dict[str, str] = field(default_factory=dict)


def _ln(x: float) -> float:
    return math.log(x)


# Red cells are held just under the threshold (anemia deepens slowly); counts can fall further.
_HOLD_LEVELS: dict[Lineage, tuple[float, float]] = {
    "neutrophils": (0.2, 0.85),
    "hemoglobin": (0.8, 0.97),
    "platelets": (0.3, 0.85),
}

# --- seed 000 (B-ALL) ---------------------------------------------------------------------------------------

_ALL_SN_EFFECTS = (
    Effect(
        "tumour_burden_pct",
        _ln(0.987),
        31.0,
        "HR 0.987 per %",
        "seed 000 Results 'Factors Associated With the Recovery', Figure 5",
    ),
    Effect(
        "max_lg_ddimer",
        _ln(0.536),
        0.9,
        "HR 0.536 (0.318-0.906)",
        "seed 000 Results 'Factors Associated With the Recovery', Figure 5",
    ),
    Effect(
        "crs_peak_day",
        _ln(0.89),
        4.0,
        "HR 0.89 (0.803-0.985) per day",
        "seed 000 Results 'Factors Associated With the Recovery', Figure 5",
    ),
    Effect(
        "toci_or_steroid",
        _ln(0.36),
        0.0,
        "HR 0.36 (0.145-0.895)",
        "seed 000 Results 'Factors Associated With the Recovery', Figure 5",
    ),
)
_ALL_SA_EFFECTS = (
    Effect(
        "max_lg_il10",
        _ln(0.533),
        1.6,
        "HR 0.533 (0.325-0.875)",
        "seed 000 Results 'Factors Associated With the Recovery', Figure 5",
    ),
    Effect(
        "crs_recovery_day",
        _ln(0.946),
        10.0,
        "HR 0.946 (0.899-0.995) per day",
        "seed 000 Results 'Factors Associated With the Recovery', Figure 5",
    ),
)
_ALL_ST_EFFECTS = (
    Effect(
        "max_lg_ferritin",
        _ln(0.547),
        3.6,
        "HR 0.547 (0.329-0.91)",
        "seed 000 Results 'Factors Associated With the Recovery', Figure 5",
    ),
)

ALL_MODEL = DiseaseModel(
    disease="all",
    label="r/r B-ALL (seed 000)",
    male_fraction=0.5,  # seed 000 Table 1: 38 (50%) male
    age_min=15.0,
    age_median=31.5,  # seed 000 Table 1: 31.5 [15-74]
    age_max=74.0,
    age_log_sd=0.75,
    # seed 000 Methods 'CAR-T Cell Manufacture': fludarabine day -4 to -2, cyclophosphamide day -3 to -2.
    lymphodepletion={"fludarabine": (-4, -3, -2), "cyclophosphamide": (-3, -2)},
    lineages={
        "neutrophils": LineageModel(
            baseline_median=2.3758,
            baseline_scale="log",
            baseline_sd_low=1.0,
            baseline_sd_high=0.6,
            reserve_loading=0.5,  # Table 1: 2.3 [0-9.1]
            decline_power=0.7904,
            depth_median=2.028,
            depth_log_sd=0.45,
            depth_crs_loading=0.2,
            nadir_day_mean=6.0,
            nadir_day_sd=1.5,
            plateau_scale=6.0,
            plateau_shape=1.5,
            rise_days=5.0,
            recovered_median=2.4,
            recovered_is_fraction=False,
            recovered_log_sd=0.3,
            nadir_baseline_exponent=1.0,
            deep_fraction=0.0,
            deep_depth_median=1.0,
            deep_baseline_loading=0.0,
            bio_sd=0.10,
            assay_cv=0.06,
            recovery_effects=_ALL_SN_EFFECTS,
            episode_max_days=15.0,
            last_onset_day=10,
        ),
        "hemoglobin": LineageModel(
            baseline_median=99.5,
            baseline_scale="linear",
            baseline_sd_low=0.2969,
            baseline_sd_high=0.2,
            reserve_loading=0.5,  # Table 1: 99.5 [45-159]
            decline_power=1.3,
            depth_median=0.4818,
            depth_log_sd=0.45,
            depth_crs_loading=0.15,
            nadir_day_mean=9.0,
            nadir_day_sd=2.0,
            plateau_scale=10.0,
            plateau_shape=1.5,
            rise_days=25.0,
            recovered_median=105.0,
            recovered_is_fraction=False,
            recovered_log_sd=0.08,
            nadir_baseline_exponent=1.0,
            deep_fraction=0.0,
            deep_depth_median=1.0,
            deep_baseline_loading=0.0,
            bio_sd=0.02,
            assay_cv=0.015,
            recovery_effects=_ALL_SA_EFFECTS,
            episode_max_days=14.0,
            last_onset_day=11,
        ),
        "platelets": LineageModel(
            baseline_median=110.2,
            baseline_scale="log",
            baseline_sd_low=1.4159,
            baseline_sd_high=0.6,
            reserve_loading=0.6,  # Table 1: 105.5 [6-412]
            decline_power=1.3,
            depth_median=1.562,
            depth_log_sd=0.6,
            depth_crs_loading=0.25,
            nadir_day_mean=10.0,
            nadir_day_sd=2.0,
            plateau_scale=10.0,
            plateau_shape=1.5,
            rise_days=8.0,
            recovered_median=150.0,
            recovered_is_fraction=False,
            recovered_log_sd=0.35,
            nadir_baseline_exponent=1.0,
            deep_fraction=0.0,
            deep_depth_median=1.0,
            deep_baseline_loading=0.0,
            bio_sd=0.06,
            assay_cv=0.04,
            recovery_effects=_ALL_ST_EFFECTS,
            episode_max_days=15.0,
            last_onset_day=10,
        ),
    },
    crs=CrsModel(
        # Table 1: none 14 (18.42%), grade 1 11 (14.47%), grade 2 22 (28.95%), grade 3-4 29 (38.16%);
        # the 3 vs 4 split (2:1) is assumed.
        grade_probabilities=(14 / 76, 11 / 76, 22 / 76, 29 / 76 * 2 / 3, 29 / 76 / 3),
        onset_median_day=3.0,
        onset_log_sd=0.55,
        onset_severity_slope=-0.15,
        # "median duration of 7 to 8 days" (seed 000 Results 'Clinical Patient Characteristics'); by grade assumed.
        duration_median_by_grade=(4.5, 6.5, 9.0, 11.0),
        duration_log_sd=0.35,
        toci_or_steroid_mild=4 / 33,
        toci_or_steroid_severe=24 / 29,  # Results: 4 of 33 mild, 24 of 29 severe
        severity_on_tumour_burden=0.4,
        source="seed 000 Table 1 and Results 'Clinical Patient Characteristics'",
    ),
    markers=(
        # Baseline ferritin 836.9 [17.2-24458] and LDH 271 [135-5268] ng/mL, U/L: seed 000 Table 1. Others assumed.
        MarkerModel("ferritin", math.log10(836.9), 0.55, 0.45, 0.35, 0.2, 2.0, 6.0, 1, ceiling=150000.0),
        MarkerModel("ldh", math.log10(271.0), 0.22, 0.12, 0.12, 0.08, 1.0, 5.0, 0, ceiling=20000.0),
        MarkerModel("crp", math.log10(8.0), 0.45, 0.9, 0.35, 0.2, 1.0, 2.0, 1, ceiling=400.0),
        MarkerModel("il6", math.log10(8.0), 0.4, 1.0, 0.7, 0.3, 0.0, 1.5, 1, ceiling=50000.0),
        MarkerModel("il10", math.log10(5.0), 0.3, 0.8, 0.5, 0.25, 0.0, 1.0, 1, ceiling=20000.0),
        MarkerModel("ifng", math.log10(10.0), 0.35, 0.9, 0.6, 0.3, 0.0, 1.0, 1, ceiling=50000.0),
        MarkerModel("tnfa", math.log10(8.0), 0.3, 0.3, 0.25, 0.15, 0.0, 1.0, 1, ceiling=5000.0),
        MarkerModel("ddimer", math.log10(0.8), 0.3, 0.55, 0.4, 0.2, 2.0, 4.0, 2, ceiling=80.0),
    ),
    persistence=PersistenceModel(
        intercept=-1.9987,
        effects=(
            Effect(
                "crs_onset_day",
                _ln(1.317),
                3.0,
                "OR 1.317 (1.005-1.726) per day",
                "seed 000 Results 'Factors Associated With the Recovery' (PHT)",
            ),
            Effect(
                "crs_recovery_day",
                _ln(1.167),
                10.0,
                "OR 1.167 (1.028-1.325) per day",
                "seed 000 Results 'Factors Associated With the Recovery' (PHT)",
            ),
            Effect(
                "crs_grade_3_4",
                _ln(5.312),
                0.0,
                "OR 5.312 (1.115-25.317), read as grade 3-4 vs 0-2",
                "seed 000 Results 'Factors Associated With the Recovery' (PHT)",
            ),
        ),
        lineage_probabilities={"neutrophils": 0.6, "hemoglobin": 0.3, "platelets": 0.5},
        level_fraction=_HOLD_LEVELS,
        start_day=(10.0, 22.0),
        extra_days_after_28=20.0,
        threshold_profile="seed000",
    ),
    interventions=InterventionModel(
        # seed 000 Results 'Treatment, Prognosis': warning lines; 86.84% G-CSF, 50% PRBC, 46.05% platelets.
        gcsf_probability=0.95,
        gcsf_trigger=0.5,
        gcsf_discretionary_probability=0.8933,
        gcsf_discretionary_trigger=1.0,
        gcsf_stop=1.0,
        gcsf_time_acceleration=1.5,
        gcsf_boost=1.8,
        rbc_probability=0.9831,
        rbc_trigger=60.0,
        rbc_increment_g_per_l=9.0,
        rbc_decay_days=40.0,
        platelet_probability=0.9538,
        platelet_trigger=20.0,
        platelet_increment=25.0,
        platelet_decay_days=3.5,
        source="seed 000 Results 'Treatment, Prognosis, and Hospitalization Cost'; clinical-reference §8",
    ),
    tumour_burden_median=31.0,  # seed 000 Results: median baseline tumour burden 31% (0-96%)
    tumour_burden_spread=2.0,
)


# --- seed 001 (B-NHL) ---------------------------------------------------------------------------------------

NHL_MODEL = DiseaseModel(
    disease="nhl",
    label="r/r B-NHL (seed 001)",
    male_fraction=45 / 63,  # seed 001 Results 'Patient characteristics': 45 males (71.42%)
    age_min=21.0,
    age_median=46.0,  # median 46 (21-72)
    age_max=72.0,
    age_log_sd=0.55,
    # seed 001 Methods 'CAR-T therapy and monitoring': fludarabine day -5 to -3, cyclophosphamide day -5.
    lymphodepletion={"fludarabine": (-5, -4, -3), "cyclophosphamide": (-5,)},
    lineages={
        # Baselines: seed 001 'Occurrence of cytopenia' gives medians 3.15 (0.61-11.35), 114 (51-165), 178 (43-447);
        # the sentence attaches them to subgroups with baseline cytopenia, which cannot be (a neutropenic median of
        # 3.15); this simulator reads them as whole-cohort medians.
        "neutrophils": LineageModel(
            baseline_median=3.1306,
            baseline_scale="log",
            baseline_sd_low=0.6,
            baseline_sd_high=0.55,
            reserve_loading=0.5,
            decline_power=0.9,
            depth_median=1.25,
            depth_log_sd=0.1751,
            depth_crs_loading=0.05,
            nadir_day_mean=3.0,
            nadir_day_sd=1.5,
            plateau_scale=3.0,
            plateau_shape=1.5,
            rise_days=4.0,
            recovered_median=1.0,
            recovered_is_fraction=True,
            recovered_log_sd=0.15,
            nadir_baseline_exponent=0.8,
            deep_fraction=0.0,
            deep_depth_median=1.0,
            deep_baseline_loading=0.0,
            bio_sd=0.10,
            assay_cv=0.06,
        ),
        "hemoglobin": LineageModel(
            baseline_median=114.0,
            baseline_scale="linear",
            baseline_sd_low=0.24,
            baseline_sd_high=0.19,
            reserve_loading=0.5,
            decline_power=1.3,
            depth_median=0.1,
            depth_log_sd=0.4583,
            depth_crs_loading=0.1,
            nadir_day_mean=6.0,
            nadir_day_sd=2.0,
            plateau_scale=4.0,
            plateau_shape=1.5,
            rise_days=25.0,
            recovered_median=0.97,
            recovered_is_fraction=True,
            recovered_log_sd=0.05,
            nadir_baseline_exponent=1.0,
            deep_fraction=0.0,
            deep_depth_median=1.0,
            deep_baseline_loading=0.0,
            bio_sd=0.02,
            assay_cv=0.015,
        ),
        "platelets": LineageModel(
            baseline_median=178.0,
            baseline_scale="log",
            baseline_sd_low=0.55,
            baseline_sd_high=0.4,
            reserve_loading=0.6,
            decline_power=1.3,
            depth_median=0.1472,
            depth_log_sd=0.6,
            depth_crs_loading=0.15,
            nadir_day_mean=9.0,
            nadir_day_sd=2.5,
            plateau_scale=3.0,
            plateau_shape=1.5,
            rise_days=7.0,
            recovered_median=1.0,
            recovered_is_fraction=True,
            recovered_log_sd=0.12,
            nadir_baseline_exponent=1.0,
            deep_fraction=0.2612,
            deep_depth_median=1.6,
            deep_baseline_loading=1.0,
            bio_sd=0.045,
            assay_cv=0.03,
        ),
    },
    crs=CrsModel(
        # seed 001 'Patient characteristics': CRS 44 (69.84%): grade 1-2 40 (63.49%), grade >= 3 4 (6.34%).
        # Splits 1 vs 2 (3:2) and 3 vs 4 (3:1) are assumed.
        grade_probabilities=(19 / 63, 40 / 63 * 0.6, 40 / 63 * 0.4, 4 / 63 * 0.75, 4 / 63 * 0.25),
        onset_median_day=2.0,
        onset_log_sd=0.55,
        onset_severity_slope=-0.15,
        duration_median_by_grade=(4.0, 6.0, 8.0, 10.0),
        duration_log_sd=0.35,
        toci_or_steroid_mild=4 / 33,
        toci_or_steroid_severe=24 / 29,  # not reported in seed 001: seed 000 rates
        severity_on_tumour_burden=0.0,
        source="seed 001 Results 'Patient characteristics'",
    ),
    markers=(
        # Baseline IL-6 and ferritin medians are not reported; seed 001's cut-offs (IL-6 21.43 pg/mL, ferritin
        # 558.65 ng/mL, peak ferritin 1195 ng/mL, Table III) fall in the upper part of these assumed distributions.
        MarkerModel("ferritin", math.log10(450.0), 0.45, 0.35, 0.3, 0.2, 2.0, 6.0, 1, ceiling=150000.0),
        MarkerModel("ldh", math.log10(260.0), 0.2, 0.1, 0.1, 0.08, 1.0, 5.0, 0, ceiling=20000.0),
        MarkerModel("crp", math.log10(10.0), 0.45, 0.8, 0.3, 0.2, 1.0, 2.0, 1, ceiling=400.0),
        MarkerModel("il6", math.log10(11.0), 0.45, 0.8, 0.6, 0.3, 0.0, 1.5, 1, ceiling=50000.0),
        MarkerModel("il10", math.log10(5.0), 0.3, 0.6, 0.4, 0.25, 0.0, 1.0, 1, ceiling=20000.0),
        MarkerModel("ifng", math.log10(10.0), 0.35, 0.7, 0.5, 0.3, 0.0, 1.0, 1, ceiling=50000.0),
        MarkerModel("tnfa", math.log10(8.0), 0.3, 0.25, 0.2, 0.15, 0.0, 1.0, 1, ceiling=5000.0),
        MarkerModel("ddimer", math.log10(0.7), 0.3, 0.45, 0.35, 0.2, 2.0, 4.0, 2, ceiling=80.0),
    ),
    persistence=PersistenceModel(
        intercept=-2.1744,
        effects=(
            Effect(
                "baseline_anc_below_2_29",
                _ln(14.834),
                0.0,
                "OR 14.834 (2.391-92.051)",
                "seed 001 Table III (multivariate)",
            ),
            Effect(
                "baseline_hb_below_114_5",
                _ln(7.963),
                0.0,
                "OR 7.963 (1.323-47.921)",
                "seed 001 Table III (multivariate)",
            ),
            Effect(
                "baseline_il6_above_21_43",
                _ln(0.091),
                0.0,
                "OR 0.091 (printed CI 0.100-0.802)",
                "seed 001 Table III (multivariate)",
            ),
        ),
        lineage_probabilities={"neutrophils": 0.85, "hemoglobin": 0.15, "platelets": 0.15},
        level_fraction=_HOLD_LEVELS,
        start_day=(10.0, 22.0),
        extra_days_after_28=20.0,
        threshold_profile="seed001",
    ),
    interventions=InterventionModel(
        # seed 001 does not report supportive care; the seed-000 warning lines are used (clinical-reference §8).
        gcsf_probability=0.9,
        gcsf_trigger=0.5,
        gcsf_discretionary_probability=0.0,
        gcsf_discretionary_trigger=1.0,
        gcsf_stop=1.0,
        gcsf_time_acceleration=1.5,
        gcsf_boost=1.8,
        rbc_probability=0.85,
        rbc_trigger=60.0,
        rbc_increment_g_per_l=9.0,
        rbc_decay_days=40.0,
        platelet_probability=0.85,
        platelet_trigger=20.0,
        platelet_increment=25.0,
        platelet_decay_days=3.5,
        source=ASSUMED + " (seed-000 warning lines, clinical-reference §8)",
    ),
    tumour_burden_median=None,
    tumour_burden_spread=0.0,
)

_MODELS: dict[Disease, DiseaseModel] = {"all": ALL_MODEL, "nhl": NHL_MODEL}


# Issue 16: with early deaths (simulate/death.py; a patient who dies before an onset has none), seed 000's new-onset
# SN of 70 % (39/56, Abstract) measured through the engine needs a deeper neutrophil fall after infusion than the
# depth tuned before deaths were modelled (2.028: 64.8 % at n = 300, seed 7), without more SN before infusion (26 %).
# Depth alone gave 68.0 % through the engine at 2.10 (741/1090, cohorts of n = 300, seeds 7/11/13/17/19), and at 2.20
# 69.9 % but 30 % SN before infusion (n = 1000, out of tolerance). A later fall (decline u ** 0.9, not u ** 0.79)
# keeps the pre-infusion share: 2.10 with 0.9 gives 70.6 % through the engine (950/1345, 95 % CI 68.2-73.1, seeds
# 7/11/13/17/19/23) and 24 % before infusion; the engine and truth.json agree patient by patient. The committed
# fixture, written without early death, keeps the old values so it stays byte-identical.
ALL_SN_DEPTH_WITH_EARLY_DEATH = 2.10
ALL_SN_POWER_WITH_EARLY_DEATH = 0.9


def model_for(disease: Disease, retuned: bool = True) -> DiseaseModel:
    """The disease's model; `retuned` False: as before issue 16's re-tuning (the committed fixture's generator)."""
    model = _MODELS[disease]
    if retuned and disease == "all":
        anc = dataclasses.replace(
            model.lineages["neutrophils"],
            depth_median=ALL_SN_DEPTH_WITH_EARLY_DEATH,
            decline_power=ALL_SN_POWER_WITH_EARLY_DEATH,
        )
        model = dataclasses.replace(model, lineages={**model.lineages, "neutrophils": anc})
    return model


# ---------------------------------------------------------------------------------------------------------
# Calibration targets.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A published number and how close the simulated cohort must come at n = 1000.

    Tolerances: proportions within about 2.3 binomial standard errors at n = 1000 (SE = sqrt(p(1-p)/n): 1.6 pp at
    p = 0.5, 1.2 pp at 0.18, 0.8 pp at 0.06), using the conditional denominator where the rate has one; medians
    within 10% (the SE of a median of a log-normal count with log-SD 1 at n = 1000 is about 4%); median days within
    1 day (results fall on whole days).
    """

    key: str
    disease: Disease
    label: str
    published: float
    kind: TargetKind
    tolerance: float  # absolute (proportion as a fraction, days) or relative (medians)
    source: str
    note: str = ""

    def passes(self, simulated: float | None) -> bool:
        if simulated is None or math.isnan(simulated):
            return False
        if self.kind == "median":
            return abs(simulated - self.published) <= self.tolerance * abs(self.published)
        return abs(simulated - self.published) <= self.tolerance + 1e-12


_T1 = "seed 000 Table 1"
_NEWONSET = "seed 000 Abstract and Results 'Incidence and Temporal Characteristics' (Figure 1D)"
_PRE = (
    "seed 000 new-onset denominators (SN 39/56, SA 35/66, ST 31/64): the rest of the 76 had the cytopenia at "
    "the last value before infusion"
)

TARGETS: tuple[Target, ...] = (
    # --- seed 000, B-ALL ---
    Target(
        "all.baseline_anc",
        "all",
        "baseline ANC median (x10^9/L)",
        2.3,
        "median",
        0.10,
        _T1 + "; Results 'Incidence and Temporal Characteristics'",
    ),
    Target("all.baseline_hb", "all", "baseline Hb median (g/L)", 99.5, "median", 0.10, _T1),
    Target("all.baseline_plt", "all", "baseline PLT median (x10^9/L)", 105.5, "median", 0.10, _T1),
    Target("all.crs_none", "all", "CRS none", 14 / 76, "proportion", 0.03, _T1 + " (14/76)"),
    Target("all.crs_g1", "all", "CRS grade 1", 11 / 76, "proportion", 0.03, _T1 + " (11/76)"),
    Target("all.crs_g2", "all", "CRS grade 2", 22 / 76, "proportion", 0.035, _T1 + " (22/76)"),
    Target("all.crs_g34", "all", "CRS grade 3-4", 29 / 76, "proportion", 0.035, _T1 + " (29/76)"),
    Target(
        "all.crs_duration",
        "all",
        "CRS duration median (days, with CRS)",
        7.5,
        "median_day",
        1.0,
        "seed 000 Results 'Clinical Patient Characteristics' ('median duration of 7 to 8 days')",
    ),
    Target(
        "all.toci_mild",
        "all",
        "tocilizumab/steroid | CRS grade 1-2",
        4 / 33,
        "proportion",
        0.04,
        "seed 000 Results 'Clinical Patient Characteristics' (4/33)",
        "denominator ~430 at n=1000",
    ),
    Target(
        "all.toci_severe",
        "all",
        "tocilizumab/steroid | CRS grade 3-4",
        24 / 29,
        "proportion",
        0.045,
        "seed 000 Results 'Clinical Patient Characteristics' (24/29)",
        "denominator ~380 at n=1000",
    ),
    Target(
        "all.sn_pre",
        "all",
        "SN at last pre-infusion value",
        20 / 76,
        "proportion",
        0.035,
        _PRE,
        "text says 26% after lymphodepletion",
    ),
    Target(
        "all.sa_pre",
        "all",
        "SA at last pre-infusion value",
        10 / 76,
        "proportion",
        0.03,
        _PRE,
        "text says 11% after lymphodepletion; the denominator implies 13%",
    ),
    Target(
        "all.st_pre",
        "all",
        "ST at last pre-infusion value",
        12 / 76,
        "proportion",
        0.03,
        _PRE,
        "text says 11% after lymphodepletion; the denominator implies 16%",
    ),
    Target(
        "all.sn_new",
        "all",
        "new-onset SN (of those without SN before infusion)",
        39 / 56,
        "proportion",
        0.04,
        _NEWONSET + " (39/56)",
        "denominator ~740 at n=1000",
    ),
    Target(
        "all.sa_new",
        "all",
        "new-onset SA (of those without SA before infusion)",
        35 / 66,
        "proportion",
        0.04,
        _NEWONSET + " (35/66)",
        "denominator ~870 at n=1000",
    ),
    Target(
        "all.st_new",
        "all",
        "new-onset ST (of those without ST before infusion)",
        31 / 64,
        "proportion",
        0.04,
        _NEWONSET + " (31/64)",
        "denominator ~840 at n=1000",
    ),
    Target(
        "all.sn_any",
        "all",
        "SN after infusion (any)",
        0.78,
        "proportion",
        0.035,
        "seed 000 Results 'Incidence and Temporal Characteristics' (Figure 1B)",
    ),
    Target(
        "all.sa_any",
        "all",
        "SA after infusion (any)",
        0.59,
        "proportion",
        0.035,
        "seed 000 Results 'Incidence and Temporal Characteristics' (Figure 1B)",
    ),
    Target(
        "all.st_any",
        "all",
        "ST after infusion (any)",
        0.57,
        "proportion",
        0.035,
        "seed 000 Results 'Incidence and Temporal Characteristics' (Figure 1B)",
    ),
    Target("all.pht", "all", "PHT at day 28 (SN, SA or ST)", 19 / 76, "proportion", 0.035, _T1 + " (19/76)"),
    Target(
        "all.gcsf", "all", "G-CSF given", 66 / 76, "proportion", 0.03, "seed 000 Results 'Treatment, Prognosis' (66/76)"
    ),
    Target(
        "all.rbc",
        "all",
        "red-cell transfusion given",
        38 / 76,
        "proportion",
        0.035,
        "seed 000 Results 'Treatment, Prognosis' (38/76)",
    ),
    Target(
        "all.platelet_tx",
        "all",
        "platelet transfusion given",
        35 / 76,
        "proportion",
        0.035,
        "seed 000 Results 'Treatment, Prognosis' (35/76)",
    ),
    Target("all.male", "all", "male", 0.5, "proportion", 0.035, _T1),
    Target("all.age", "all", "age median (years)", 31.5, "median", 0.10, _T1),
    Target(
        "all.tumour_burden",
        "all",
        "marrow tumour burden median (%)",
        31.0,
        "median",
        0.10,
        "seed 000 Results 'Clinical Patient Characteristics'",
    ),
    Target("all.baseline_ferritin", "all", "baseline ferritin median (ng/mL)", 836.9, "median", 0.10, _T1),
    Target("all.baseline_ldh", "all", "baseline LDH median (U/L)", 271.0, "median", 0.10, _T1),
    # --- seed 001, B-NHL ---
    Target(
        "nhl.crs_any",
        "nhl",
        "CRS any grade",
        44 / 63,
        "proportion",
        0.035,
        "seed 001 Results 'Patient characteristics' (44/63)",
    ),
    Target(
        "nhl.crs_g34",
        "nhl",
        "CRS grade >= 3",
        4 / 63,
        "proportion",
        0.02,
        "seed 001 Results 'Patient characteristics' (4/63)",
    ),
    Target(
        "nhl.g3_neutropenia",
        "nhl",
        "grade >= 3 neutropenia (ANC < 1.0), days 0-30",
        48 / 63,
        "proportion",
        0.035,
        "seed 001 Abstract; Results 'Occurrence of cytopenia' (48/63)",
    ),
    Target(
        "nhl.g3_anemia",
        "nhl",
        "grade >= 3 anemia (Hb < 80), days 0-30",
        16 / 63,
        "proportion",
        0.035,
        "seed 001 Abstract; Results 'Occurrence of cytopenia' (16/63)",
    ),
    Target(
        "nhl.g3_thrombocytopenia",
        "nhl",
        "grade >= 3 thrombocytopenia (PLT < 50), days 0-30",
        15 / 63,
        "proportion",
        0.035,
        "seed 001 Abstract; Results 'Occurrence of cytopenia' (15/63)",
    ),
    Target(
        "nhl.nadir_anc",
        "nhl",
        "lowest ANC median (x10^9/L)",
        0.64,
        "median",
        0.10,
        "seed 001 Results 'Occurrence of cytopenia'",
    ),
    Target(
        "nhl.nadir_hb",
        "nhl",
        "lowest Hb median (g/L)",
        100.0,
        "median",
        0.10,
        "seed 001 Results 'Occurrence of cytopenia'",
    ),
    Target(
        "nhl.nadir_plt",
        "nhl",
        "lowest PLT median (x10^9/L)",
        121.0,
        "median",
        0.10,
        "seed 001 Results 'Occurrence of cytopenia'",
    ),
    Target(
        "nhl.nadir_day_anc",
        "nhl",
        "day of lowest ANC, median",
        5.0,
        "median_day",
        1.0,
        "seed 001 Results 'Occurrence of cytopenia'",
    ),
    Target(
        "nhl.nadir_day_hb",
        "nhl",
        "day of lowest Hb, median",
        8.0,
        "median_day",
        1.0,
        "seed 001 Results 'Occurrence of cytopenia'",
    ),
    Target(
        "nhl.nadir_day_plt",
        "nhl",
        "day of lowest PLT, median",
        10.0,
        "median_day",
        1.0,
        "seed 001 Results 'Occurrence of cytopenia'",
    ),
    Target(
        "nhl.not_recovered_28",
        "nhl",
        "not recovered at day 28",
        21 / 60,
        "proportion",
        0.035,
        "seed 001 Abstract; Results 'Analysis of factors associated with hematologic recovery' (21/60)",
    ),
    Target(
        "nhl.baseline_anc",
        "nhl",
        "baseline ANC median (x10^9/L)",
        3.15,
        "median",
        0.10,
        "seed 001 Results 'Occurrence of cytopenia' (read as whole-cohort median)",
    ),
    Target(
        "nhl.baseline_hb",
        "nhl",
        "baseline Hb median (g/L)",
        114.0,
        "median",
        0.10,
        "seed 001 Results 'Occurrence of cytopenia' (read as whole-cohort median)",
    ),
    Target(
        "nhl.baseline_plt",
        "nhl",
        "baseline PLT median (x10^9/L)",
        178.0,
        "median",
        0.10,
        "seed 001 Results 'Occurrence of cytopenia' (read as whole-cohort median)",
    ),
    Target("nhl.male", "nhl", "male", 45 / 63, "proportion", 0.035, "seed 001 Results 'Patient characteristics'"),
    Target("nhl.age", "nhl", "age median (years)", 46.0, "median", 0.10, "seed 001 Results 'Patient characteristics'"),
)
