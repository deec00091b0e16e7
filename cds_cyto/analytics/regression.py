"""Cox models of recovery (seed 000), logistic models of PHT and day-28 non-recovery (seeds 000 and 001), Youden cuts.

Typed wrappers over lifelines and statsmodels: each returns a plain DataFrame (estimate, 95% CI, p, n).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test

from cds_cyto.analytics.firth import fit_logit
from cds_cyto.analytics.stats import MIN_EPV_FIT, auc_delong, bh_qvalues, epv_verdict, implausible_ratio

__all__ = [
    "COX_SPECS",
    "LOGIT_SPECS",
    "SEED001_SCREEN",
    "TABLE_I_SPEC",
    "CoxResult",
    "cox_multivariable",
    "cox_univariable",
    "logistic_multivariable",
    "logistic_univariable",
    "prepare",
    "roc_auc",
    "roc_curve",
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
# seed 001 Table I (grade >= 3 cytopenia) and Table II (day-28 recovery): the univariable screen, then the
# multivariable model of the factors the paper kept. ECOG is not in the record: it is listed as unavailable.
# The published multivariable estimates, shown beside the fitted ones only for a cohort of the paper's population.
PUBLISHED_MODELS: dict[str, tuple[str, dict[str, str]]] = {
    "cox_multivariable_sn": ("all", {
        "tumour_burden_pct": "HR 0.987 per % (seed 000 Figure 5)",
        "max_lg_ddimer": "HR 0.536 (0.318-0.906) (seed 000 Figure 5)",
        "crs_peak_day": "HR 0.89 (0.803-0.985) per day (seed 000 Figure 5)",
        "toci_or_steroid": "HR 0.36 (0.145-0.895) (seed 000 Figure 5)",
    }),
    "cox_multivariable_sa": ("all", {
        "max_lg_il10": "HR 0.533 (0.325-0.875) (seed 000 Figure 5)",
        "crs_recovery_day": "HR 0.946 (0.899-0.995) per day (seed 000 Figure 5)",
    }),
    "cox_multivariable_st": ("all", {"max_lg_ferritin": "HR 0.547 (0.329-0.91) (seed 000 Figure 5)"}),
    "logistic_multivariable_pht_seed000": ("all", {
        "crs_onset_day": "OR 1.317 (1.005-1.726) per day (seed 000 Results)",
        "crs_recovery_day": "OR 1.167 (1.028-1.325) per day (seed 000 Results)",
        "crs_grade_3_4": "OR 5.312 (1.115-25.317) (seed 000 Results)",
    }),
    "logistic_multivariable_nonrec28_seed001": ("nhl", {
        "baseline_anc_below_2_29": "OR 14.834 (2.391-92.051) (seed 001 Table III)",
        "baseline_hb_below_114_5": "OR 7.963 (1.323-47.921) (seed 001 Table III)",
        "baseline_il6_above_21_43": "OR 0.091 (printed CI 0.100-0.802) (seed 001 Table III)",
    }),
}  # fmt: skip


def with_published(name: str, table: pd.DataFrame, disease: str) -> pd.DataFrame:
    """`table` with a `published` column when the paper of this model is the cohort's own population's."""
    population, values = PUBLISHED_MODELS.get(name, ("", {}))
    if population != disease or "covariate" not in table:
        return table
    return table.assign(published=[values.get(str(c), "") for c in table["covariate"]])


SEED001_SCREEN = [
    "ecog",
    "age",
    "sex_male",
    "baseline_neutrophils",
    "baseline_hemoglobin",
    "baseline_platelets",
    "baseline_il6",
    "baseline_ferritin",
    "baseline_crp",
    "crs_any",
    "max_lg_il6",
    "max_lg_ferritin",
    "max_lg_crp",
]
TABLE_I_SPEC = ["baseline_neutrophils", "baseline_hemoglobin"]
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
    """Derived covariates: grade 3-4, seed-001 cut-offs. CRS days stay NaN without CRS (a day of a CRS that did not
    happen is undefined, not day 0): models on CRS timing are fitted among patients with CRS, and say so."""
    d = df.copy()
    if "sex" in d:
        d["sex_male"] = (d["sex"] == "male").astype(float).where(d["sex"].isin(["male", "female"]))
    if "crs_grade" in d:
        d["crs_grade_3_4"] = (d["crs_grade"] >= 3).astype(float).where(d["crs_grade"].notna())
        d["crs_any"] = (d["crs_grade"] >= 1).astype(float).where(d["crs_grade"].notna())
        for c in ("crs_onset_day", "crs_peak_day", "crs_recovery_day"):
            if c in d:
                d[c] = d[c].where(d["crs_grade"] >= 1)
    for col, new, cut, below in (
        ("baseline_neutrophils", "baseline_anc_below_2_29", 2.29, True),
        ("baseline_hemoglobin", "baseline_hb_below_114_5", 114.5, True),
        ("baseline_il6", "baseline_il6_above_21_43", 21.43, False),
    ):
        if col in d:
            flag = d[col] < cut if below else d[col] > cut
            d[new] = flag.astype(float).where(d[col].notna())
    return d


_CRS_TIMING = ("crs_onset_day", "crs_peak_day", "crs_recovery_day")


def _population(covariates: list[str]) -> str:
    return "patients with CRS" if any(c in _CRS_TIMING for c in covariates) else "all eligible"


def _split_available(d: pd.DataFrame, covariates: list[str]) -> tuple[list[str], list[str]]:
    """Covariates with at least two distinct known values in `d`, and the rest (unavailable in this cohort)."""
    ok = [c for c in covariates if c in d and d[c].dropna().nunique() >= 2]
    return ok, [c for c in covariates if c not in ok]


def _unavailable_rows(covs: list[str], ratio: str, method: str) -> list[dict[str, object]]:
    return [
        {"covariate": c, ratio: math.nan, "lower": math.nan, "upper": math.nan, "p": math.nan, "method": method,
         "note": "unavailable: no patient in this cohort has a (varying) value"}
        for c in covs
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class CoxResult:
    table: pd.DataFrame  # covariate, HR, lower, upper, p, method, note
    ph_test: pd.DataFrame  # covariate, test statistic, p (Schoenfeld-residual test, rank transform)
    n: int
    events: int


COX_METHOD = "Cox proportional hazards (lifelines, Efron ties)"
LOGIT_METHOD = "logistic regression, maximum likelihood (statsmodels)"
FIRTH_METHOD = "Firth-penalised logistic regression (bias-reduced; Wald CI)"
UNBOUNDED = "unstable: the CI is unbounded"  # implausible_ratio's words for separation


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
    """Recovery from new-onset severe cytopenia (seed 000): time from onset to recovery, censored at follow-up.
    Covariates no patient has are listed as unavailable and left out; below the EPV floor nothing is fitted."""
    covs = covariates if covariates is not None else COX_SPECS[lineage]
    eligible = df[df[f"{lineage}_new"] == 1]
    avail, missing = _split_available(eligible, covs)
    rows: list[dict[str, object]] = _unavailable_rows(missing, "HR", COX_METHOD)
    empty_ph = pd.DataFrame(columns=["covariate", "statistic", "p"])
    d = _cox_data(df, lineage, avail) if avail else pd.DataFrame(columns=["T", "E"])
    events = int(d["E"].sum()) if len(d) else 0
    verdict = epv_verdict(events, len(avail))
    if not avail or not verdict.fit:
        note = verdict.note if avail else "no covariate available"
        rows = _unavailable_rows(avail, "HR", COX_METHOD) + rows
        for r in rows[: len(avail)]:
            r["note"] = note
        return CoxResult(pd.DataFrame(rows), empty_ph, len(d), events)
    cph = _fit_cox(d)
    s = cph.summary
    fitted = []
    for cov, r in s.iterrows():
        hr, lo, hi = float(r["exp(coef)"]), float(r["exp(coef) lower 95%"]), float(r["exp(coef) upper 95%"])
        note = "; ".join(x for x in (verdict.note, implausible_ratio(hr, lo, hi)) if x)
        fitted.append(
            {"covariate": str(cov), "HR": hr, "lower": lo, "upper": hi, "p": float(r["p"]), "method": COX_METHOD,
             "note": note}
        )  # fmt: skip
    table = pd.DataFrame(fitted + rows).assign(population=_population(avail))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = proportional_hazard_test(cph, d, time_transform="rank").summary
    ph_table = pd.DataFrame(
        {"covariate": [str(i) for i in ph.index], "statistic": ph["test_statistic"].to_numpy(), "p": ph["p"].to_numpy()}
    )
    return CoxResult(table, ph_table, len(d), events)


def cox_univariable(df: pd.DataFrame, lineage: str, candidates: list[str] | None = None) -> pd.DataFrame:
    """The univariable screen (seed 000 Results): one Cox model per candidate, BH q-values over the family screened;
    a candidate no patient has is listed as unavailable."""
    rows: list[dict[str, object]] = []
    for c in candidates if candidates is not None else SCREEN:
        d = _cox_data(df, lineage, [c]) if c in df else pd.DataFrame()
        if len(d) < 10 or d[c].nunique() < 2:
            rows.extend(_unavailable_rows([c], "HR", COX_METHOD))
            rows[-1]["n"] = len(d)
            continue
        if int(d["E"].sum()) < 1:  # nobody recovered: no hazard ratio to estimate
            rows.extend(_unavailable_rows([c], "HR", COX_METHOD))
            rows[-1]["note"], rows[-1]["n"] = "not estimated: 0 recoveries (events)", len(d)
            continue
        s = _fit_cox(d).summary.iloc[0]
        hr, lo, hi = float(s["exp(coef)"]), float(s["exp(coef) lower 95%"]), float(s["exp(coef) upper 95%"])
        rows.append(
            {"covariate": c, "HR": hr, "lower": lo, "upper": hi, "p": float(s["p"]), "method": COX_METHOD,
             "note": implausible_ratio(hr, lo, hi), "n": len(d), "population": _population([c])}
        )  # fmt: skip
    cols = ["covariate", "HR", "lower", "upper", "p", "q_bh", "method", "note", "n", "population"]
    out = pd.DataFrame(rows, columns=[c for c in cols if c != "q_bh"])
    out.insert(5, "q_bh", bh_qvalues(out["p"]) if len(out) else [])
    return out


def _logit(df: pd.DataFrame, outcome: str, covariates: list[str], firth: bool = False) -> tuple[pd.DataFrame, int, int]:
    d = df[[*covariates, outcome]].dropna()
    events = int(min(d[outcome].sum(), len(d) - d[outcome].sum()))  # the rarer class limits a logistic model
    x = sm.add_constant(d[covariates].astype(float), has_constant="add")
    if firth:
        f = fit_logit(x.to_numpy(), d[outcome].to_numpy(dtype=float), firth=True)
        lo_b, hi_b, pvals = f.wald()
        names, params, pv = list(x.columns), f.beta, pvals
        ci_lo, ci_hi, method = lo_b, hi_b, FIRTH_METHOD
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.Logit(d[outcome].astype(float), x).fit(disp=0, maxiter=200)
        ci_b = fit.conf_int().to_numpy()
        names, params, pv = list(fit.params.index), fit.params.to_numpy(), fit.pvalues.to_numpy()
        ci_lo, ci_hi, method = ci_b[:, 0], ci_b[:, 1], LOGIT_METHOD
    with np.errstate(over="ignore"):  # quasi-separation: an infinite bound is the truthful answer, said below
        odds, lower, upper = np.exp(params), np.exp(ci_lo), np.exp(ci_hi)
    table = pd.DataFrame(
        {
            "covariate": names,
            "OR": odds,
            "lower": lower,
            "upper": upper,
            "p": pv,
            "method": method,
            "note": [
                implausible_ratio(float(o), float(lo), float(hi)) for o, lo, hi in zip(odds, lower, upper, strict=True)
            ],
        }
    )
    return table[table["covariate"] != "const"].reset_index(drop=True), len(d), events


def _logit_or_firth(df: pd.DataFrame, outcome: str, covariates: list[str]) -> tuple[pd.DataFrame, int, int]:
    """Maximum likelihood, or Firth's fit when it separates (an unbounded CI or no fit at all): named in `method`,
    and the note says why."""
    try:
        table, n, events = _logit(df, outcome, covariates)
        separated = bool(table["note"].astype(str).str.startswith(UNBOUNDED).any())
    except Exception:  # a singular design or perfect separation breaks the ML fit
        separated = True
    if not separated:
        return table, n, events
    table, n, events = _logit(df, outcome, covariates, firth=True)
    why = "unstable maximum-likelihood fit (separation): Firth-penalised estimate"
    table["note"] = ["; ".join(x for x in (why, str(v)) if x) for v in table["note"]]
    return table, n, events


def logistic_multivariable(df: pd.DataFrame, outcome: str, covariates: list[str] | None = None) -> pd.DataFrame:
    """A multivariable logistic model (seed 000 PHT; seed 001 Tables I and III), with the EPV guard and
    unavailable covariates listed, not fitted."""
    covs = covariates if covariates is not None else LOGIT_SPECS[outcome]
    avail, missing = _split_available(df, covs)
    known = df[[*avail, outcome]].dropna() if avail else df[[outcome]].dropna()
    events = int(min(known[outcome].sum(), len(known) - known[outcome].sum()))
    verdict = epv_verdict(events, len(avail))
    rows = _unavailable_rows(missing, "OR", LOGIT_METHOD)
    # below the EPV floor a maximum-likelihood fit is biased away from 1: Firth's penalised fit is used instead, down
    # to one event per covariate; fewer than that is refused
    firth = bool(avail) and not verdict.fit and verdict.epv >= 1
    if not avail or not (verdict.fit or firth):
        head = _unavailable_rows(avail, "OR", LOGIT_METHOD)
        for r in head:
            r["note"] = verdict.note
        table, n = pd.DataFrame(head + rows), len(known)
    else:
        if firth:
            fitted, n, _ = _logit(df, outcome, avail, firth=True)
            note = f"EPV {verdict.epv:.1f} < {MIN_EPV_FIT:g}: Firth-penalised fit instead of maximum likelihood"
        else:
            fitted, n, _ = _logit_or_firth(df, outcome, avail)
            note = verdict.note
        if note:
            fitted["note"] = [("; ".join(x for x in (note, str(v)) if x)) for v in fitted["note"]]
        table = pd.concat([fitted, pd.DataFrame(rows, columns=fitted.columns)], ignore_index=True) if rows else fitted
    return table.assign(n=n, events=events, population=_population(avail))


def logistic_univariable(df: pd.DataFrame, outcome: str, candidates: list[str] | None = None) -> pd.DataFrame:
    """One logistic model per candidate, BH q-values over the family; unavailable candidates listed."""
    rows: list[dict[str, object]] = []
    for c in candidates if candidates is not None else SCREEN:
        if c not in df or df[[c, outcome]].dropna()[c].nunique() < 2:
            rows.extend(_unavailable_rows([c], "OR", LOGIT_METHOD))
            continue
        known = df[[c, outcome]].dropna()[outcome]
        k = int(known.sum())
        if min(k, len(known) - k) < 1:  # an outcome that never varies has no odds ratio (the multivariable refusal)
            rows.extend(_unavailable_rows([c], "OR", LOGIT_METHOD))
            rows[-1]["note"] = f"not estimated: {k} events, {len(known) - k} non-events (the outcome does not vary)"
            rows[-1]["n"] = len(known)
            continue
        try:
            t, n, _ = _logit_or_firth(df, outcome, [c])
        except Exception:  # a singular design even for Firth's fit: said, not screened
            rows.extend(_unavailable_rows([c], "OR", LOGIT_METHOD))
            rows[-1]["note"] = "not estimable: singular design"
            continue
        rows.append({**{str(k): v for k, v in t.iloc[0].items()}, "n": n, "population": _population([c])})
    cols = ["covariate", "OR", "lower", "upper", "p", "method", "note", "n", "population"]
    out = pd.DataFrame(rows, columns=cols)
    out.insert(5, "q_bh", bh_qvalues(out["p"]) if len(out) else [])
    return out


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney; ties count one half)."""
    return auc_delong(y, score).auc


def roc_curve(y: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """The empirical ROC curve of `score` (higher = predicts the outcome): fpr, tpr per threshold."""
    y = np.asarray(y, dtype=float)
    s = np.asarray(score, dtype=float)
    n1, n0 = max(1, int((y == 1).sum())), max(1, int((y == 0).sum()))
    pts = [(0.0, 0.0)]
    for cut in np.unique(s)[::-1]:
        pred = s >= cut
        pts.append((float((pred & (y == 0)).sum() / n0), float((pred & (y == 1)).sum() / n1)))
    return pd.DataFrame(pts, columns=["fpr", "tpr"])


def youden_cutoff(
    df: pd.DataFrame, outcome: str, predictor: str, published_higher_is_risk: bool | None = None
) -> dict[str, Any]:
    """The cut-off maximising sensitivity + specificity - 1 (seed 001's ROC-derived cut-offs). A marker whose lower
    values go with the outcome (protective when high) is read as 'value <= cut' and its AUC is that of the reversed
    score. The direction is the published one when the paper pre-specifies it (`published_higher_is_risk`): choosing
    it from the data would make every AUC >= 0.5 and inflate it under the null. Without one it is chosen from the
    data, and the row says so (`direction from`)."""
    d = df[[predictor, outcome]].dropna()
    y = d[outcome].to_numpy(dtype=float)
    x = d[predictor].to_numpy(dtype=float)
    if published_higher_is_risk is not None:
        higher, source = published_higher_is_risk, "published (pre-specified)"
    else:
        higher, source = (auc_delong(y, x).auc >= 0.5 if len(d) else True), "direction chosen from the data"
    s = x if higher else -x
    best = (-1.0, math.nan, math.nan, math.nan)
    for cut in np.unique(s):
        pred = s >= cut
        sens = float((pred & (y == 1)).sum() / max(1, (y == 1).sum()))
        spec = float((~pred & (y == 0)).sum() / max(1, (y == 0).sum()))
        if sens + spec - 1 > best[0]:
            best = (sens + spec - 1, float(cut if higher else -cut), sens, spec)
    auc = auc_delong(y, s)
    return {
        "predictor": predictor,
        "outcome": outcome,
        "direction": ">=" if higher else "<=",
        "published direction": "" if published_higher_is_risk is None else (">" if published_higher_is_risk else "<"),
        "direction from": source,
        "cutoff": best[1],
        "youden_j": best[0],
        "sensitivity": best[2],
        "specificity": best[3],
        "auc": auc.auc,
        "auc_lower": auc.lower,
        "auc_upper": auc.upper,
        "auc_ci_method": "DeLong",
        "n": float(len(d)),
        "events": float(auc.n_pos),
    }
