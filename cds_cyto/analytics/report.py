"""The analysis run: rows → tables (CSV/JSON), figures (SVG + 300-dpi PNG), the site model, one offline HTML report.

Every section names the figure or table of the paper it reproduces, and its published numbers are those of the paper
of the cohort's own population (B-ALL: seed 000; B-NHL: seed 001), never the other one.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from cds_cyto.analytics import by_crs, correlation, incidence, plots, regression, site_model_fit, survival, tripod
from cds_cyto.analytics.manifest import table_sha256
from cds_cyto.analytics.rows import MARKERS, PatientRow, cohort_table, daily_table, support_table
from cds_cyto.analytics.units import add_units
from cds_cyto.core.profile import Profile, default_profile

__all__ = ["SECTIONS", "AnalysisResult", "Section", "analyze_rows"]

SEVERE = {"neutrophils": 0.5, "hemoglobin": 60.0, "platelets": 20.0}  # seed 000 (clinical-reference §2)
SEED = {"all": "seed 000 (B-ALL, n = 76)", "nhl": "seed 001 (B-NHL, n = 63)"}
T = TypeVar("T")
SITE_MODEL_SEED = 20261122  # the site model's fold split and bootstrap (in the manifest)


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    reproduces: str  # the figure / table of which paper
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()


SECTIONS: tuple[Section, ...] = (
    Section("characteristics", "1. Cohort characteristics", "seed 000 Table 1; seed 001 Results", ("characteristics",)),
    Section(
        "incidence",
        "2. Incidence of cytopenia before and after infusion",
        "seed 000 Figure 1B-C and Abstract (B-ALL); seed 001 Results 'Occurrence of cytopenia' (B-NHL)",
        ("incidence", "published_comparison", "fig1b_timepoints", "paired_before_after", "nadirs"),
        ("fig1b_timepoints",),
    ),
    Section(
        "cumulative",
        "3. Cumulative incidence of new-onset severe cytopenia and CRS",
        "seed 000 Figure 1D",
        ("cumulative_incidence",),
        ("cumulative_incidence",),
    ),
    Section(
        "crs",
        "4. Cytopenia by CRS group and timing",
        "seed 000 Figures 2A-E and 4A-F, Supplementary Tables 1-2",
        ("fig2a_timing", "fig2b_incidence_by_crs", "fig4_duration_by_crs", "temporal_characteristics"),
        ("fig2b_incidence_by_crs", "counts_by_crs", "fig4_duration_by_crs"),
    ),
    Section(
        "correlation",
        "5. Correlations with peak markers",
        "seed 000 Figures 3 and 4G (Spearman; BH q-values over the table)",
        ("spearman",),
        ("spearman_heatmap",),
    ),
    Section(
        "models",
        "6. Recovery and day-28 models",
        "seed 000 Figure 5, Supplementary Tables 3-7 (Cox of recovery; logistic of PHT); seed 001 Tables I-III and "
        "Figure S1 (logistic of grade >= 3 cytopenia and day-28 non-recovery; ROC cut-offs)",
        (),
        ("forest_cox_sn", "forest_cox_sa", "forest_cox_st", "forest_pht_seed000", "forest_nonrec28_seed001", "roc"),
    ),
    Section(
        "support",
        "7. Supportive care",
        "seed 000 Figure 6A-D (G-CSF, red cells, platelets, tocilizumab/corticosteroid)",
        ("support_by_crs", "support_by_day"),
        ("support_by_day",),
    ),
    Section(
        "site-model",
        "8. Site-calibrated model",
        "not in either paper: this site's own model, reported to TRIPOD (participant flow, bootstrap validation, "
        "Brier score, calibration, decision curve)",
        ("site_model_participant_flow", "site_model_validation", "site_model_calibration", "site_model_decision_curve"),
        ("calibration", "decision_curve"),
    ),
    Section(
        "external-validation",
        "9. External validation of a saved site model",
        "not in either paper: `analyze --validate site_model.json` applies a model fitted elsewhere, unchanged, to "
        "this cohort (TRIPOD type 4)",
        (
            "external_validation",
            "external_validation_participant_flow",
            "external_validation_calibration",
            "external_validation_decision_curve",
        ),
        ("external_calibration", "external_decision_curve"),
    ),
)
LABELS = {
    "tumour_burden_pct": "marrow tumour burden (%)",
    "max_lg_ddimer": "max lg D-dimer",
    "max_lg_il10": "max lg IL-10",
    "max_lg_ferritin": "max lg ferritin",
    "crs_peak_day": "CRS peak day",
    "crs_onset_day": "CRS onset day",
    "crs_recovery_day": "CRS recovery day",
    "crs_grade_3_4": "CRS grade 3-4",
    "toci_or_steroid": "tocilizumab / corticosteroid",
    "baseline_anc_below_2_29": "baseline ANC < 2.29 ×10⁹/L",
    "baseline_hb_below_114_5": "baseline Hb < 114.5 g/L",
    "baseline_il6_above_21_43": "baseline IL-6 > 21.43 pg/mL",
    "baseline_neutrophils": "baseline ANC (×10⁹/L)",
    "baseline_hemoglobin": "baseline Hb (g/L)",
    "baseline_il6": "baseline IL-6 (pg/mL)",
    "baseline_ferritin": "baseline ferritin (ng/mL)",
}


def _label(column: str) -> str:
    """A column as a reader sees it (no snake_case in legends)."""
    return LABELS.get(column, column.replace("_", " "))


# outcome columns as a caption names them (a reader sees no snake_case)
OUTCOME_NAMES = {
    "pht_seed000": "PHT at day 28 (seed 000 definition)",
    "nonrec28_seed001": "non-recovery at day 28 (seed 001 definition)",
}
# seed 001 Table III / Figure S1: the cut-offs the paper derived, and the side of each that goes with non-recovery
PUBLISHED_CUTS: tuple[tuple[str, float, str], ...] = (
    ("baseline_neutrophils", 2.29, "<"),
    ("baseline_hemoglobin", 114.5, "<"),
    ("baseline_il6", 21.43, "<"),  # IL-6 > 21.43: OR 0.107, protective
    ("baseline_ferritin", 558.65, "<"),  # OR 0.250 for > 558.65
    ("max_lg_ferritin", math.log10(1195), "<"),  # peak ferritin > 1195 ng/mL: OR 0.110
)


@dataclass(slots=True)
class AnalysisResult:
    table: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, plots.Figure] = field(default_factory=dict)
    model: site_model_fit.SiteModel | None = None
    notes: list[str] = field(default_factory=list)
    section_notes: dict[str, list[str]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    disease: str = "all"
    html_path: Path | None = None

    def note(self, section: str, text: str) -> None:
        self.section_notes.setdefault(section, []).append(text)


def _safe(section: str, name: str, result: AnalysisResult, fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except Exception as exc:  # one failed analysis must not lose the others; it is said in its section
        result.note(section, f"{name}: not computed ({type(exc).__name__}: {exc})")
        return None


def _unavailable_notes(res: AnalysisResult, df: pd.DataFrame) -> None:
    """Say, in the sections that use them, which markers no patient has (the analyses list them as unavailable)."""
    missing = [m for m in MARKERS if f"max_lg_{m}" not in df or df[f"max_lg_{m}"].isna().all()]
    if missing:
        text = "unavailable in this cohort (no result with a known code): " + ", ".join(missing)
        for sec in ("correlation", "models"):
            res.note(sec, text)
    if "ecog" not in df:
        res.note("models", "ECOG performance status: unavailable (the record does not carry it); seed 001 Table I/II")


def analyze_rows(
    rows: Iterable[PatientRow],
    out: Path,
    disease: str = "all",
    created: date | None = None,
    bootstrap: int = 200,
    profile: Profile | None = None,
    manifest: dict[str, Any] | None = None,
    validate: site_model_fit.SiteModel | None = None,
    shrink: bool = False,
    unreadable: int = 0,
) -> AnalysisResult:
    """The report of `rows`; `profile` is the one the rows were assessed with (its site-model rule goes into the
    artifact, so scoring reads the inputs as training did). `manifest`: the run's record, written beside the tables.
    `validate`: a saved model to validate on this cohort (section 9); `shrink`: the site model's coefficients are
    shrunk by the bootstrap's uniform factor. `unreadable`: input files that could not be read (named on stderr),
    said in the report."""
    profile = profile or default_profile()
    rows = list(rows)
    out.mkdir(parents=True, exist_ok=True)
    df = regression.prepare(cohort_table(rows))
    res = AnalysisResult(df, disease=disease, manifest=dict(manifest or {}))
    res.manifest["analysis_table_sha256"] = table_sha256(df)
    res.manifest["patients"] = len(df)
    res.manifest.setdefault("seeds", {})
    res.manifest["seeds"] = {
        **res.manifest["seeds"],
        "site_model_cv": SITE_MODEL_SEED,
        "bootstrap_replicates": bootstrap,
    }
    if unreadable:
        res.manifest["unreadable_files"] = unreadable
        res.note(
            "characteristics",
            f"{unreadable} input file(s) could not be read (not valid JSON, or not FHIR; named on the command's "
            "stderr) and are not in the analysis: their patients are in no count of this report.",
        )
    _unavailable_notes(res, df)
    _incidence(res, df)
    _cumulative(res, df)
    _crs(res, df, rows)
    _correlation(res, df)
    _models(res, df)
    _support(res, df, rows)
    _site_model(res, df, disease, created, bootstrap, profile, out, shrink)
    if validate is not None:
        _external(res, df, validate)
    else:
        res.note("external-validation", "not run: `analyze --validate site_model.json` validates a saved model")
    for name, table in res.tables.items():  # every model table: the unit of its ratio, the same paper's estimate
        res.tables[name] = regression.with_published(
            name, add_units(add_units(table, profile), profile, "predictor"), disease
        )
    _write(res, out)
    return res


def _incidence(res: AnalysisResult, df: pd.DataFrame) -> None:
    t = res.tables
    t["characteristics"] = incidence.characteristics(df)
    t["incidence"] = incidence.incidence_table(df)
    t["published_comparison"] = incidence.published_comparison(df, res.disease)
    res.note("incidence", f"Published numbers: {SEED[res.disease]}, the paper of this cohort's population.")
    for text in (incidence.crs_unknown_note(df), _data_problem_note(df)):
        if text:
            res.note("characteristics", text)
            if text.startswith("CRS unknown"):
                res.note("incidence", text)
    unseen = incidence.unobserved_after_infusion(df)
    if unseen:
        res.note("incidence", unseen)
    t["fig1b_timepoints"] = incidence.fig1b_timepoints(df)
    if res.disease != "all":  # seed 000's time points are a B-ALL cohort's: not beside a B-NHL one
        t["fig1b_timepoints"] = t["fig1b_timepoints"].drop(columns=["published T1/T2/T3 %"])
    t["paired_before_after"] = incidence.paired_before_after(df)
    t["nadirs"] = _nadirs(df, res.disease)
    fb = t["fig1b_timepoints"]
    res.figures["fig1b_timepoints"] = plots.grouped_bars_figure(
        "fig1b_timepoints",
        list(fb["lineage"]),
        {tp: [float(v) for v in fb[f"{tp} %"]] for tp in ("T1", "T2", "T3")},
        "Patients with severe cytopenia (%)",
        "Severe cytopenia (seed 000 thresholds) at T1 (before lymphodepletion), T2 (last value before infusion) "
        "and T3 (after infusion), per lineage; reproduces seed 000 Figure 1B"
        + (" (published SN 5/26/78%, SA 9/11/59%, ST 11/11/57%)" if res.disease == "all" else " (a B-ALL paper)")
        + ". Tests: Pearson chi-square with Bonferroni (as published) and McNemar (paired).",
    )


def _data_problem_note(df: pd.DataFrame) -> str | None:
    """Patients whose dates cannot be: a death before infusion (not a competing death), a birth after it (age
    unknown)."""
    parts = []
    for col, what in (
        ("death_before_infusion", "a death dated before the infusion (not used: not a competing death on day 0)"),
        ("birth_after_infusion", "a birthDate after the infusion (age unknown)"),
    ):
        k = int(df[col].sum()) if col in df else 0
        if k:
            parts.append(f"{k} with {what}")
    return ("Data problems: " + "; ".join(parts) + ".") if parts else None


def _nadirs(df: pd.DataFrame, disease: str) -> pd.DataFrame:
    """seed 001 Results: median nadir (range) and nadir day per lineage, beside the published ones."""
    out = []
    for key, label, unit in (("sn", "ANC", "×10⁹/L"), ("sa", "Hb", "g/L"), ("st", "PLT", "×10⁹/L")):
        v, d = df[f"nadir_{key}"].dropna(), df[f"nadir_day_{key}"].dropna()
        pub = incidence.PUBLISHED_SEED001_NADIRS[key] if disease == "nhl" else ("", "")
        out.append(
            {
                "lineage": label,
                "unit": unit,
                "median nadir [range]": "n/a" if v.empty else f"{v.median():.3g} [{v.min():.3g}-{v.max():.3g}]",
                "median nadir day [range]": "n/a" if d.empty else f"{d.median():.3g} [{d.min():.0f}-{d.max():.0f}]",
                "n": len(v),
                "published nadir (seed 001)": pub[0],
                "published nadir day (seed 001)": pub[1],
            }
        )
    return pd.DataFrame(out)


def _cumulative(res: AnalysisResult, df: pd.DataFrame) -> None:
    cis = [
        # at risk: patients without that severe cytopenia at the last value before infusion (seed 000 denominators)
        survival.cumulative_incidence(
            df[df[f"{s}_before"] == 0], f"new-onset {s.upper()}", f"{s}_new", f"{s}_onset_day"
        )
        for s in ("sn", "sa", "st")
    ]
    cis.append(survival.cumulative_incidence(df, "CRS", "crs_any", "crs_onset_day"))
    deaths = sum(c.deaths for c in cis)
    res.note("cumulative", (survival.AJ_NOTE if deaths else survival.KM_NOTE) + f" Estimators: {cis[0].estimator}.")
    res.tables["cumulative_incidence"] = pd.concat(
        [c.curve.assign(event=c.event, estimator=c.estimator) for c in cis], ignore_index=True
    )
    pub = (
        "published by day 30: CRS 82%, new-onset SN 70%, SA 53%, ST 48%" if res.disease == "all" else "not in seed 001"
    )
    res.figures["cumulative_incidence"] = plots.cumulative_incidence_figure(
        cis,
        f"Cumulative incidence of new-onset severe cytopenia and CRS after infusion ({cis[0].estimator}), 95% bands, "
        f"numbers at risk below; reproduces seed 000 Figure 1D ({pub}).",
    )


def _crs(res: AnalysisResult, df: pd.DataFrame, rows: list[PatientRow]) -> None:
    t = res.tables
    groups = survival.crs_group(df["crs_grade"])
    daily = daily_table(rows)
    curves = {lin: survival.count_curves_by_crs(daily[lin], groups) for lin in daily}
    t["counts_by_crs"] = pd.concat([c.assign(lineage=lin) for lin, c in curves.items()], ignore_index=True)
    res.figures["counts_by_crs"] = plots.count_curves_figure(
        curves,
        SEVERE,
        "ANC, Hb and PLT (mean ± SEM) by day and CRS group (none / grade 1-2 / grade 3-4); dashed: seed 000 "
        "severe thresholds. Reproduces seed 000 Figure 2C-E.",
    )
    t["fig2a_timing"] = by_crs.fig2a_timing(df)
    t["fig2b_incidence_by_crs"] = fb = by_crs.fig2b_incidence_by_crs(df, groups)
    t["fig4_duration_by_crs"] = by_crs.fig4_duration_by_crs(df, groups)
    t["temporal_characteristics"] = by_crs.temporal_characteristics(df)

    def pct(cell: object) -> float:
        text = str(cell)
        return float(text.split("%", maxsplit=1)[0]) if "%" in text else math.nan

    res.figures["fig2b_incidence_by_crs"] = plots.grouped_bars_figure(
        "fig2b_incidence_by_crs",
        list(fb["measure"]),
        {g: [pct(v) for v in fb[g]] for g in by_crs.GROUPS},
        "Patients (%)",
        "Incidence of cytopenia and severe cytopenia (SN, SA, ST) after infusion by CRS group; chi-square across "
        "groups in the table. Reproduces seed 000 Figure 2B.",
    )
    panels: dict[str, dict[str, list[float]]] = {}
    for key, short in (("sn", "SN"), ("sa", "SA"), ("st", "ST")):
        # seed 000 Figure 4A-C: a patient without the cytopenia after infusion has duration 0 (its caption)
        panels[short] = {g: [float(v) for v in df.loc[groups == g, f"{key}_duration"].dropna()] for g in by_crs.GROUPS}
    res.figures["fig4_duration_by_crs"] = plots.boxplot_figure(
        "fig4_duration_by_crs",
        panels,
        "Duration of severe cytopenia (days)",
        "Duration of severe cytopenia (days summed over its episodes: new-onset, or carried over from before "
        "infusion and counted from day 0) by CRS group; as in seed 000, a patient without it after infusion has "
        "duration 0 (patients with it only: table rows 'not in seed 000'); Kruskal-Wallis in the table. "
        "Reproduces seed 000 Figure 4A-C.",
    )


def _correlation(res: AnalysisResult, df: pd.DataFrame) -> None:
    corr = correlation.spearman_table(df, list(MARKERS))
    res.tables["spearman"] = corr
    if corr["rho"].notna().any():
        res.figures["spearman_heatmap"] = plots.heatmap_figure(
            corr,
            "Spearman ρ of nadirs and severe-cytopenia durations with peak (max lg) markers; stars from "
            "Benjamini-Hochberg q-values over the whole table (* < 0.05, ** < 0.01, *** < 0.001); n/a: marker "
            "unavailable. Reproduces seed 000 Figures 3 and 4G.",
        )


def _models(res: AnalysisResult, df: pd.DataFrame) -> None:
    t = res.tables
    for lin in ("sn", "sa", "st"):
        uni = _safe("models", f"Cox univariable {lin}", res, partial(regression.cox_univariable, df, lin))
        if uni is not None:
            t[f"cox_univariable_{lin}"] = uni
        cox = _safe("models", f"Cox multivariable {lin}", res, partial(regression.cox_multivariable, df, lin))
        if cox is not None:
            t[f"cox_multivariable_{lin}"] = cox.table.assign(n=cox.n, events=cox.events)
            t[f"cox_ph_test_{lin}"] = cox.ph_test
            res.figures[f"forest_cox_{lin}"] = plots.forest_figure(
                f"forest_cox_{lin}",
                cox.table,
                "HR",
                f"Multivariable Cox model of recovery from new-onset severe {lin.upper()} (n = {cox.n}, "
                f"{cox.events} recoveries); HR > 1: faster recovery. Reproduces seed 000 Figure 5 / Supplementary "
                "Tables 3-5.",
                LABELS,
            )
    for outcome, source, what in (
        ("pht_seed000", "seed 000 Results (PHT, Supplementary Table 7)", OUTCOME_NAMES["pht_seed000"]),
        ("nonrec28_seed001", "seed 001 Tables II-III", OUTCOME_NAMES["nonrec28_seed001"]),
    ):
        screen = None if outcome == "pht_seed000" else regression.SEED001_SCREEN
        uni = _safe(
            "models",
            f"logistic univariable {outcome}",
            res,
            partial(regression.logistic_univariable, df, outcome, screen),
        )
        if uni is not None:
            t[f"logistic_univariable_{outcome}"] = uni
        mv = _safe(
            "models",
            f"logistic multivariable {outcome}",
            res,
            partial(regression.logistic_multivariable, df, outcome),
        )
        if mv is not None:
            t[f"logistic_multivariable_{outcome}"] = mv
            res.figures[f"forest_{outcome}"] = plots.forest_figure(
                f"forest_{outcome}",
                mv,
                "OR",
                f"Multivariable logistic model of {what} (n = {int(mv['n'].iloc[0])}, "
                f"{int(mv['events'].iloc[0])} in the rarer class). Reproduces {source}.",
                LABELS,
            )
    for key, short in (("sn", "neutropenia"), ("sa", "anemia"), ("st", "thrombocytopenia")):
        outcome = f"g3_{key}_after"
        uni = _safe(
            "models",
            f"Table I screen {short}",
            res,
            partial(regression.logistic_univariable, df, outcome, regression.SEED001_SCREEN),
        )
        if uni is not None:
            t[f"seed001_table1_univariable_{key}"] = uni
        mv = _safe(
            "models",
            f"Table I {short}",
            res,
            partial(regression.logistic_multivariable, df, outcome, regression.TABLE_I_SPEC),
        )
        if mv is not None:
            t[f"seed001_table1_multivariable_{key}"] = mv
    _roc(res, df)


def _roc(res: AnalysisResult, df: pd.DataFrame) -> None:
    cuts, curves = [], []
    for pred, published, side in PUBLISHED_CUTS:
        c = _safe(
            "models",
            f"Youden {pred}",
            res,
            partial(regression.youden_cutoff, df, "nonrec28_seed001", pred, side == ">"),
        )
        if c is None or c["n"] == 0:
            res.note("models", f"ROC {pred}: unavailable (no patient with both the value and the day-28 outcome)")
            continue
        if res.disease == "nhl":  # seed 001's cut-offs are a B-NHL cohort's: not beside a B-ALL one
            c["published cut-off (seed 001)"] = published
        cuts.append(c)
        d = df[[pred, "nonrec28_seed001"]].dropna()
        sign = 1.0 if c["direction"] == ">=" else -1.0
        curve = regression.roc_curve(d["nonrec28_seed001"].to_numpy(), sign * d[pred].to_numpy(dtype=float))
        curves.append(
            (
                f"{_label(pred)} {c['direction']}",
                curve,
                float(c["auc"]),
                float(c["auc_lower"]),
                float(c["auc_upper"]),
            )
        )
    res.tables["roc_cutoffs_nonrec28"] = pd.DataFrame(cuts)
    if curves:
        res.figures["roc"] = plots.roc_figure(
            "roc",
            curves,
            "ROC curves of baseline markers for non-recovery at day 28 (seed 001 definition); each marker is scored "
            "in the direction seed 001 published (lower = risk: a marker protective when high is scored reversed), "
            "not one chosen from the data, AUC with DeLong 95% CI. "
            "Reproduces seed 001 Figure S1"
            + (" (published AUC 0.7-0.9)." if res.disease == "nhl" else " (a B-NHL paper)."),
        )


def _support(res: AnalysisResult, df: pd.DataFrame, rows: list[PatientRow]) -> None:
    groups = survival.crs_group(df["crs_grade"])
    res.tables["support_by_crs"] = by_crs.support_by_crs(df, groups)
    res.tables["support_by_day"] = by_day = by_crs.fig6_support_by_day(support_table(rows))
    res.figures["support_by_day"] = plots.support_by_day_figure(
        by_day,
        "Share of patients given G-CSF, red cells, platelets, or tocilizumab/corticosteroid on each day after "
        "infusion. Reproduces seed 000 Figure 6A-D (by CRS group in the table).",
    )


def _site_model(
    res: AnalysisResult,
    df: pd.DataFrame,
    disease: str,
    created: date | None,
    bootstrap: int,
    profile: Profile,
    out: Path,
    shrink: bool = False,
) -> None:
    outcome, feats = (
        ("nonrec28_seed001", ["baseline_neutrophils", "baseline_hemoglobin", "baseline_il6", "crs_grade"])
        if disease == "nhl"
        else (
            "pht_seed000",
            ["baseline_neutrophils", "baseline_hemoglobin", "baseline_platelets", "crs_grade", "crs_recovery_day"],
        )
    )
    key = site_model_fit.OUTCOME_DEFINITIONS[outcome][1]
    res.model = _safe(
        "site-model",
        "site model",
        res,
        lambda: site_model_fit.fit_site_model(
            site_model_fit.input_frame(df, outcome, feats),
            outcome,
            feats,
            created=created,
            bootstrap=bootstrap,
            seed=SITE_MODEL_SEED,
            outcome_day=int(profile.pht[key]),
            # the rows' inputs were read with this rule: the model keeps it, and is scored with it
            landmark_day=int(profile.thresholds["site_model"]["landmark_day"]),
            no_crs_reading_from_day=int(profile.thresholds["site_model"]["no_crs_reading_from_day"]),
            population=disease,
            shrink=shrink,
        ),
    )
    flow = tripod.participant_flow(df, outcome, feats)
    res.tables["site_model_participant_flow"] = flow
    if res.model is None:
        return
    m, v = res.model, res.model.validation
    site_model_fit.save_model(m, out / "site_model.json")
    res.tables["site_model_validation"] = _validation_table(v)
    cal = pd.DataFrame(v["calibration_table"])
    res.tables["site_model_calibration"] = cal
    label = OUTCOME_NAMES.get(outcome, outcome)
    res.figures["calibration"] = plots.calibration_figure(
        "calibration",
        cal,
        f"Calibration of the site model of {label} (n = {m.training['n']}, {m.training['events']} events): "
        "observed share against mean out-of-fold predicted risk per risk group, Wilson 95% intervals; dashed: "
        f"perfect calibration. Calibration slope {v['calibration_slope']:.2f} (cross-validated), "
        f"{v['calibration_slope_optimism_corrected']:.2f} (bootstrap, optimism-corrected).",
    )
    y, oof = site_model_fit.oof_predictions(site_model_fit.input_frame(df, outcome, feats), outcome, feats,
                                            seed=SITE_MODEL_SEED)  # fmt: skip
    dca = tripod.decision_curve(y, oof)
    res.tables["site_model_decision_curve"] = dca
    res.figures["decision_curve"] = plots.decision_curve_figure(
        "decision_curve",
        dca,
        f"Decision curve of the site model of {label}: net benefit of acting (e.g. extended monitoring) when the "
        "out-of-fold predicted risk is at least the threshold, against acting on every patient and on none "
        "(Vickers & Elkin 2006).",
    )
    excluded = flow[flow["step"] == "excluded (all)"]
    if not excluded.empty:
        res.note(
            "site-model",
            f"Participant flow: {int(excluded['n'].iloc[0])} of {int(flow['n'].iloc[0])} patients are outside the "
            f"model (outcome rate {excluded['outcome rate'].iloc[0]}) against "
            f"{flow[flow['step'] == 'analysed']['outcome rate'].iloc[0]} in it; reasons in the flow table.",
        )


def _validation_table(v: dict[str, Any]) -> pd.DataFrame:
    """The development figures side by side: apparent, cross-validated, bootstrap optimism-corrected (TRIPOD 10d)."""
    lo, hi = v["auc_cv_ci95"]
    return pd.DataFrame(
        [
            {"measure": "AUC", "apparent": v["auc_apparent"], "cross-validated": v["auc_cv"],
             "optimism-corrected": v["auc_optimism_corrected"], "95% CI (cross-validated)": f"{lo:.3f}-{hi:.3f}"},
            {"measure": "Brier score", "apparent": v["brier_apparent"], "cross-validated": v["brier_cv"],
             "optimism-corrected": v["brier_optimism_corrected"], "95% CI (cross-validated)": ""},
            {"measure": "calibration slope", "apparent": 1.0, "cross-validated": v["calibration_slope"],
             "optimism-corrected": v["calibration_slope_optimism_corrected"], "95% CI (cross-validated)": ""},
            {"measure": "calibration-in-the-large", "apparent": 0.0, "cross-validated": v["calibration_intercept"],
             "optimism-corrected": math.nan, "95% CI (cross-validated)": ""},
        ]
    )  # fmt: skip


def _external(res: AnalysisResult, df: pd.DataFrame, model: site_model_fit.SiteModel) -> None:
    ev = _safe("external-validation", "external validation", res, lambda: tripod.external_validation(model, df))
    if ev is None:
        return
    res.tables["external_validation"] = ev.table
    res.tables["external_validation_participant_flow"] = ev.flow
    res.tables["external_validation_calibration"] = ev.calibration
    res.tables["external_validation_decision_curve"] = ev.decision
    what = f"the saved model of {OUTCOME_NAMES.get(model.outcome, model.outcome)} (created {model.created}"
    what += f", fitted on {model.training['n']} {model.population_name} patients"
    what += "" if model.sha256 is None else f", sha256 {model.sha256[:12]}"
    res.note("external-validation", f"Validated: {what}) on {ev.n} patients of this cohort ({ev.events} events).")
    res.figures["external_calibration"] = plots.calibration_figure(
        "external_calibration",
        ev.calibration,
        f"External validation: calibration of {what}) on this cohort (n = {ev.n}, {ev.events} events): observed "
        "share against mean predicted risk per risk group, Wilson 95% intervals; dashed: perfect calibration.",
        xlabel="Predicted risk (saved model)",
    )
    res.figures["external_decision_curve"] = plots.decision_curve_figure(
        "external_decision_curve",
        ev.decision,
        f"External validation: decision curve of {what}) on this cohort: net benefit against acting on every "
        "patient and on none.",
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula (a patient id "=HYPERLINK(...)") are written with a leading
    quote (CSV injection, OWASP); numbers, a negative day among them, stay numbers."""
    text = [c for c in table.columns if table[c].dtype == object]
    if not text:
        return table
    out = table.copy()
    for c in text:
        out[c] = [f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v for v in out[c]]
    return out


def _write(res: AnalysisResult, out: Path) -> None:
    tables_dir = out / "tables"
    tables_dir.mkdir(exist_ok=True)
    _csv_safe(res.table).to_csv(tables_dir / "patients.csv", index=False)
    for name, table in res.tables.items():
        _csv_safe(table).to_csv(tables_dir / f"{name}.csv", index=False)
    payload = {name: _records(table) for name, table in res.tables.items()}
    notes = {**({"run": res.notes} if res.notes else {}), **res.section_notes}
    (out / "tables.json").write_text(
        json.dumps({"manifest": res.manifest, "notes": notes, "tables": payload}, indent=1), encoding="utf-8"
    )
    (tables_dir / "manifest.json").write_text(json.dumps(res.manifest, indent=1, sort_keys=True), encoding="utf-8")
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    captions = {}
    for name, fig in res.figures.items():
        (figs / f"{name}.png").write_bytes(fig.png)
        (figs / f"{name}.svg").write_bytes(fig.svg)
        captions[name] = fig.caption
    (figs / "captions.json").write_text(json.dumps(captions, indent=1, sort_keys=True), encoding="utf-8")
    res.html_path = out / "report.html"
    res.html_path.write_text(render_html(res), encoding="utf-8")


def _json_value(v: Any) -> Any:
    """A cell as JSON: NaN and infinities as null, numpy scalars as Python ones, floats at full precision."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows for tables.json. Not `DataFrame.to_json`: it keeps 10 decimal places, so a p-value of 8e-13
    would be written as 0.0 (the CSV has the full value)."""
    return [{str(k): _json_value(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(res: AnalysisResult, name: str) -> str:
    fig = res.figures.get(name)
    if fig is None and name.startswith("external_") and "external_validation" not in res.tables:
        return ""  # section 9 not run (no --validate): its note says so, nothing is missing
    if fig is None:
        return f"<p><em>Figure {html.escape(name)}: not drawn (not enough data; see the notes).</em></p>"
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(fig.caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(fig.caption)} (figures/{html.escape(name)}.svg, .png at {plots.DPI} dpi)"
        "</figcaption></figure>"
    )


def _section_tables(res: AnalysisResult, sec: Section) -> list[str]:
    if sec.id == "models":
        names = [n for n in res.tables if n.startswith(("cox_", "logistic_", "roc_", "seed001_"))]
    elif sec.id == "external-validation" and "external_validation" not in res.tables:
        return []
    else:
        names = [n for n in sec.tables if n in res.tables]
    return [f"<h3>{html.escape(n.replace('_', ' '))}</h3>{_table(res.tables[n])}" for n in names]


def _site_model_text(res: AnalysisResult) -> str:
    if res.model is None:
        return "<p>No site model could be fitted.</p>"
    m, v = res.model, res.model.validation
    ci = v["auc_cv_ci95"]
    parts = [
        f"<p>Logistic model of <b>{html.escape(m.outcome_definition)}</b>, fitted on this cohort of "
        f"{m.population_name} patients (n={m.training['n']}, events={m.training['events']}); artifact "
        f"<code>site_model.json</code> (format {site_model_fit.ARTIFACT_FORMAT} v{m.version}). Validation: "
        f"{html.escape(v['method'])}; AUC {v['auc_cv']:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f}); calibration "
        f"slope {v['calibration_slope']:.3f}, intercept {v['calibration_intercept']:.3f}; Brier "
        f"{v['brier_cv']:.4f}; optimism-corrected AUC {v['auc_optimism_corrected']:.3f}, slope "
        f"{v['calibration_slope_optimism_corrected']:.3f} (the uniform shrinkage factor"
        + (f", applied: {v['shrinkage_factor']:.3f}" if "shrinkage_factor" in v else "; not applied: `--shrink`")
        + ").</p>"
        "<p>To show its probability on cards, start the service with <code>CDS_CYTO_SITE_MODEL</code> naming "
        "this file (or pass <code>--site-model</code> to <code>evaluate</code> and <code>sweep</code>). A patient "
        f"is scored from its day +{m.landmark_day} landmark to day +{m.outcome_day - 1}, with its CRS inputs read "
        "on the landmark, only when every input is known and final (a complete CRS record by the landmark), "
        "within the training range below, and of this population; every probability carries these validation "
        "figures.</p>"
    ]
    caution = site_model_fit.over_fitting_caution(m.training["events"], len(m.features))
    if caution:
        parts.append(f"<p><b>Caution:</b> {caution}; read the cross-validated figures, not the apparent fit.</p>")
    coefs = pd.DataFrame(
        [{"feature": "intercept", "transform": "", "coefficient": m.intercept}]
        + [
            {
                "feature": f,
                "transform": m.transforms[f],
                "coefficient": m.coefficients[f],
                "training range": f"{m.ranges[f][0]:g} to {m.ranges[f][1]:g}",
            }
            for f in m.features
        ]
    )
    parts.append(_table(coefs))
    return "".join(parts)


def _manifest_html(manifest: dict[str, Any]) -> str:
    if not manifest:
        return ""
    rows = pd.DataFrame(
        [
            {"item": k, "value": json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v}
            for k, v in manifest.items()
        ]
    )
    return f'<section id="manifest"><h2>Run manifest</h2>{_table(rows)}</section>'


def render_html(res: AnalysisResult) -> str:
    n = len(res.table)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>cds-cyto cohort report</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}th{background:#eee}img{max-width:100%}"
        "figcaption{font-size:12px;color:#333;max-width:900px}.reproduces{color:#555;font-style:italic}",
        "</style></head><body>",
        f"<h1>cds-cyto cohort report</h1><p>{n} patients ({'B-NHL' if res.disease == 'nhl' else 'B-ALL'}); "
        f"published numbers are those of {SEED[res.disease]}. Definitions: clinical-reference.md (seed 000 severe: "
        "ANC &lt; 0.5, Hb &lt; 60 g/L, PLT &lt; 20; seed 001 / CTCAE grade &ge; 3: ANC &lt; 1.0, Hb &lt; 80 g/L, "
        "PLT &lt; 50).</p>",
        _manifest_html(res.manifest),
    ]
    for sec in SECTIONS:
        parts.append(f'<section id="{sec.id}"><h2>{html.escape(sec.title)}</h2>')
        parts.append(f'<p class="reproduces">Reproduces: {html.escape(sec.reproduces)}.</p>')
        for text in res.section_notes.get(sec.id, []):
            parts.append(f'<p class="note">{html.escape(text)}</p>')
        if sec.id == "site-model":
            parts.append(_site_model_text(res))
        parts.extend(_figure(res, f) for f in sec.figures)
        parts.extend(_section_tables(res, sec))
        parts.append("</section>")
    if res.notes:
        parts.append("<section id='notes'><h2>Notes</h2><ul>")
        parts.extend(f"<li>{html.escape(s)}</li>" for s in res.notes)
        parts.append("</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
