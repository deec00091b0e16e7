"""Cox models of recovery (seed 000), logistic models of PHT and day-28 non-recovery (seeds 000 and 001), Youden cuts.

Typed wrappers over lifelines and statsmodels: each returns a plain DataFrame (estimate, 95% CI, p, n).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test

__all__ = [
    "COX_SPECS",
    "LOGIT_SPECS",
    "CoxResult",
    "cox_multivariable",
    "cox_univariable",
    "logistic_multivariable",
    "logistic_univariable",
    "prepare",
    "roc_auc",
    "youden_cutoff",
]

# Multivariable models as published (seed 000 Figure 5 and Results; seed 001 Table III).
COX_SPECS: dict[str, list[str]] = {
    "sn": ["tumour_burden_pct", "max_lg_ddimer", "crs_peak_day", "toci_or_steroid"],
    "sa": ["max_lg_il10", "crs_recovery_day"],
    "st": ["max_lg_ferritin"],
}
LOGIT_SPECS: dict[str, list[str]] = {
    "pht_seed000": ["crs_onset_day", "crs_recovery_day", "crs_grade_3_4"],
    "nonrec28_seed001": ["baseline_anc_below_2_29", "baseline_hb_below_114_5", "baseline_il6_above_21_43"],
}
SCREEN = [
    "tumour_burden_pct",
    "crs_grade",
    "crs_onset_day",
    "crs_peak_day",
    "crs_recovery_day",
    "toci_or_steroid",
    "max_lg_il6",
    "max_lg_il10",
    "max_lg_ifng",
    "max_lg_ferritin",
    "max_lg_ddimer",
    "max_lg_crp",
    "baseline_neutrophils",
    "baseline_hemoglobin",
    "baseline_platelets",
]


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Derived covariates: CRS days are 0 without CRS (as the seeds code them), grade 3-4, seed-001 cut-offs."""
    d = df.copy()
    for c in ("crs_onset_day", "crs_peak_day", "crs_recovery_day"):
        if c in d:
            d[c] = d[c].fillna(0.0)
    if "crs_grade" in d:
        d["crs_grade_3_4"] = (d["crs_grade"] >= 3).astype(float).where(d["crs_grade"].notna())
        d["crs_any"] = (d["crs_grade"] >= 1).astype(float).where(d["crs_grade"].notna())
    for col, new, cut, below in (
        ("baseline_neutrophils", "baseline_anc_below_2_29", 2.29, True),
        ("baseline_hemoglobin", "baseline_hb_below_114_5", 114.5, True),
        ("baseline_il6", "baseline_il6_above_21_43", 21.43, False),
    ):
        if col in d:
            flag = d[col] < cut if below else d[col] > cut
            d[new] = flag.astype(float).where(d[col].notna())
    return d


@dataclass(frozen=True, slots=True)
class CoxResult:
    table: pd.DataFrame  # covariate, HR, lower, upper, p
    ph_test: pd.DataFrame  # covariate, test statistic, p (Schoenfeld-residual test, rank transform)
    n: int
    events: int


def _cox_data(df: pd.DataFrame, lineage: str, covariates: list[str]) -> pd.DataFrame:
    dur, ev = f"{lineage}_duration", f"{lineage}_recovered"
    d = df[df[f"{lineage}_new"] == 1][[*covariates, dur, ev]].dropna()
    d = d[d[dur] > 0]
    return d.rename(columns={dur: "T", ev: "E"})


def _fit_cox(d: pd.DataFrame) -> CoxPHFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(d, "T", "E")


def cox_multivariable(df: pd.DataFrame, lineage: str, covariates: list[str] | None = None) -> CoxResult:
    """Recovery from new-onset severe cytopenia (seed 000): time from onset to recovery, censored at follow-up."""
    covs = covariates if covariates is not None else COX_SPECS[lineage]
    d = _cox_data(df, lineage, covs)
    cph = _fit_cox(d)
    s = cph.summary
    table = pd.DataFrame(
        {
            "covariate": list(s.index),
            "HR": s["exp(coef)"].to_numpy(),
            "lower": s["exp(coef) lower 95%"].to_numpy(),
            "upper": s["exp(coef) upper 95%"].to_numpy(),
            "p": s["p"].to_numpy(),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = proportional_hazard_test(cph, d, time_transform="rank").summary
    ph_table = pd.DataFrame(
        {"covariate": [str(i) for i in ph.index], "statistic": ph["test_statistic"].to_numpy(), "p": ph["p"].to_numpy()}
    )
    return CoxResult(table, ph_table, len(d), int(d["E"].sum()))


def cox_univariable(df: pd.DataFrame, lineage: str, candidates: list[str] | None = None) -> pd.DataFrame:
    rows = []
    for c in candidates if candidates is not None else SCREEN:
        if c not in df:
            continue
        d = _cox_data(df, lineage, [c])
        if len(d) < 10 or d[c].nunique() < 2:
            continue
        s = _fit_cox(d).summary.iloc[0]
        rows.append(
            {
                "covariate": c,
                "HR": float(s["exp(coef)"]),
                "lower": float(s["exp(coef) lower 95%"]),
                "upper": float(s["exp(coef) upper 95%"]),
                "p": float(s["p"]),
                "n": len(d),
            }
        )
    return pd.DataFrame(rows, columns=["covariate", "HR", "lower", "upper", "p", "n"])


def _logit(df: pd.DataFrame, outcome: str, covariates: list[str]) -> tuple[pd.DataFrame, int]:
    d = df[[*covariates, outcome]].dropna()
    x = sm.add_constant(d[covariates].astype(float), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.Logit(d[outcome].astype(float), x).fit(disp=0, maxiter=200)
    with np.errstate(over="ignore"):  # quasi-separation: an infinite bound is the truthful answer, said below
        ci = np.exp(fit.conf_int())
        odds = np.exp(fit.params.to_numpy())
    lower, upper = ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy()
    # a bound at 0 or infinity, or an odds ratio beyond 1e6 either way, means (quasi-)separation in this sample
    separated = ~np.isfinite(upper) | (lower <= 0) | (np.abs(fit.params.to_numpy()) > math.log(1e6))
    table = pd.DataFrame(
        {
            "covariate": list(fit.params.index),
            "OR": odds,
            "lower": lower,
            "upper": upper,
            "p": fit.pvalues.to_numpy(),
            "note": np.where(separated, "quasi-separation: the CI is unbounded; too few events to estimate", ""),
        }
    )
    return table[table["covariate"] != "const"].reset_index(drop=True), len(d)


def logistic_multivariable(df: pd.DataFrame, outcome: str, covariates: list[str] | None = None) -> pd.DataFrame:
    covs = covariates if covariates is not None else LOGIT_SPECS[outcome]
    table, n = _logit(df, outcome, covs)
    table["n"] = n
    return table


def logistic_univariable(df: pd.DataFrame, outcome: str, candidates: list[str] | None = None) -> pd.DataFrame:
    rows = []
    for c in candidates if candidates is not None else SCREEN:
        if c not in df or df[c].nunique() < 2:
            continue
        try:
            t, n = _logit(df, outcome, [c])
        except Exception:  # perfect separation or a singular design: not screened
            continue
        rows.append({**t.iloc[0].to_dict(), "n": n})
    return pd.DataFrame(rows, columns=["covariate", "OR", "lower", "upper", "p", "note", "n"])


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney; ties count one half)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=float)
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def youden_cutoff(df: pd.DataFrame, outcome: str, predictor: str, higher_is_risk: bool) -> dict[str, float]:
    """The cut-off maximising sensitivity + specificity - 1 (seed 001's ROC-derived cut-offs)."""
    d = df[[predictor, outcome]].dropna()
    y = d[outcome].to_numpy(dtype=float)
    x = d[predictor].to_numpy(dtype=float)
    s = x if higher_is_risk else -x
    best = (-1.0, math.nan, math.nan, math.nan)
    for cut in np.unique(s):
        pred = s >= cut
        sens = float((pred & (y == 1)).sum() / max(1, (y == 1).sum()))
        spec = float((~pred & (y == 0)).sum() / max(1, (y == 0).sum()))
        if sens + spec - 1 > best[0]:
            best = (sens + spec - 1, float(cut if higher_is_risk else -cut), sens, spec)
    return {
        "predictor": predictor,  # type: ignore[dict-item]
        "direction": ">=" if higher_is_risk else "<=",  # type: ignore[dict-item]
        "cutoff": best[1],
        "youden_j": best[0],
        "sensitivity": best[2],
        "specificity": best[3],
        "auc": roc_auc(y, s),
        "n": float(len(d)),
    }
