"""The site model's validation to TRIPOD (Collins et al. 2015, BMJ 350:g7594): participant flow, bootstrap with
refitting (optimism correction, Harrell et al. 1996, Stat Med 15:361), Brier score, calibration with CIs, decision curve
(Vickers & Elkin 2006, Med Decis Making 26:565), uniform shrinkage (the bootstrap calibration slope; Steyerberg 2019,
Clinical Prediction Models ch. 13), and the external validation of a saved model on another cohort.

Every fit here is the numpy Newton-Raphson of `firth.fit_logit` (maximum likelihood), so thousands of refits stay fast.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from cds_cyto.analytics.firth import fit_logit
from cds_cyto.analytics.stats import auc_delong
from cds_cyto.core.profile.site_model import SiteModel, transform

__all__ = [
    "DCA_THRESHOLDS",
    "Bootstrap",
    "bootstrap_validation",
    "brier",
    "calibration_fit",
    "calibration_table",
    "calibration_with_ci",
    "decision_curve",
    "design",
    "external_validation",
    "participant_flow",
    "sigmoid",
]

# threshold probabilities of the decision curve: 1% to 60% (a PHT work-up or extended monitoring is a low-harm act)
DCA_THRESHOLDS = tuple(round(t / 100, 2) for t in range(1, 61))


def sigmoid(eta: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * eta)), dtype=float)


def design(df: pd.DataFrame, features: list[str], transforms: dict[str, str]) -> np.ndarray:
    """The intercept column and each feature under its transform (as fitted and as scored)."""
    cols = [[transform(transforms[f], float(v)) for v in df[f]] for f in features]
    return np.column_stack([np.ones(len(df)), *[np.asarray(c, dtype=float) for c in cols]])


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC, ties one half (`stats.auc_delong` without its variance: the bootstrap calls it thousands of
    times)."""
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    if m == 0 or n == 0:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[pos].sum() - m * (m + 1) / 2) / (m * n))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def _lp(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-9, 1 - 1e-9)
    return np.asarray(np.log(q / (1 - q)), dtype=float)


def calibration_fit(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Calibration slope (logistic of y on the linear predictor) and calibration-in-the-large (the intercept with
    the linear predictor as offset)."""
    (slope, _, _), (citl, _, _) = calibration_with_ci(y, p)
    return slope, citl


def calibration_with_ci(y: np.ndarray, p: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(slope, lower, upper) and (calibration-in-the-large, lower, upper), Wald 95% CIs."""
    lp = _lp(p)
    s = fit_logit(np.column_stack([np.ones(len(lp)), lp]), y)
    c = fit_logit(np.ones((len(lp), 1)), y, offset=lp)
    (s_lo, s_hi, _), (c_lo, c_hi, _) = s.wald(), c.wald()
    return (float(s.beta[1]), float(s_lo[1]), float(s_hi[1])), (float(c.beta[0]), float(c_lo[0]), float(c_hi[0]))


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Risk groups by quantile of predicted risk: n, mean predicted, observed share and its Wilson 95% interval."""
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    z = 1.96
    for b in range(bins):
        m = idx == b
        if not m.any():
            continue
        n, obs = float(m.sum()), float(y[m].mean())
        centre = (obs + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(obs * (1 - obs) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        out.append(
            {
                "bin": float(b + 1),
                "n": n,
                "mean_predicted": float(p[m].mean()),
                "observed": obs,
                "observed_lower": max(0.0, centre - half),
                "observed_upper": min(1.0, centre + half),
            }
        )
    return out


def decision_curve(y: np.ndarray, p: np.ndarray, thresholds: tuple[float, ...] = DCA_THRESHOLDS) -> pd.DataFrame:
    """Net benefit of acting when the predicted risk is at least each threshold, against acting on everyone and on
    no one: NB = TP/n − FP/n · t/(1 − t)."""
    y = np.asarray(y, dtype=float)
    n, prevalence = len(y), float(np.mean(y))
    rows = []
    for t in thresholds:
        act = p >= t
        tp, fp = float((act & (y == 1)).sum()), float((act & (y == 0)).sum())
        w = t / (1 - t)
        rows.append(
            {
                "threshold": t,
                "net_benefit_model": tp / n - fp / n * w,
                "net_benefit_all": prevalence - (1 - prevalence) * w,
                "net_benefit_none": 0.0,
                "acted_on_pct": 100.0 * float(act.mean()),
            }
        )
    return pd.DataFrame(rows)


_DAYS = re.compile(r"day [+-]?\d+\b(?! landmark)")


_FROM_DAY = re.compile(r" (?:from|on|since) day [+-]?\d+\b(?! landmark)")


def _reason(text: str) -> str:
    """A reason without the patient's own days, so patients group by it ("CRS had not abated by the day +14
    landmark"; a day left inside a reason reads "a day")."""
    return _DAYS.sub("a day", _FROM_DAY.sub("", text))


def participant_flow(
    df: pd.DataFrame, outcome: str, features: list[str], extra: Callable[[pd.Series], str] | None = None
) -> pd.DataFrame:
    """Who is in the model and who is not, and why (the first reason per patient, in feature order), each group with
    its outcome rate: TRIPOD item 13a. `extra` may add a reason for a patient with every input (e.g. out of range)."""
    rows: list[dict[str, object]] = []
    y = pd.to_numeric(df[outcome], errors="coerce") if outcome in df else pd.Series(math.nan, index=df.index)
    reasons: list[str] = []
    for pos in range(len(df)):
        r = df.iloc[pos]
        why = ""
        if math.isnan(float(y.iloc[pos])):
            why = f"outcome ({outcome}) not determinable from the record"
        else:
            for f in features:
                v = r.get(f"input_{f}", math.nan)
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    why = f"{f}: {_reason(str(r.get(f'why_{f}', '') or 'no value'))}"
                    break
            if not why and extra is not None:
                why = extra(r)
        reasons.append(why)
    reason = pd.Series(reasons, index=df.index)

    def rate(mask: pd.Series) -> str:
        known = y[mask].dropna()
        return "n/a" if known.empty else f"{100 * known.mean():.0f}% ({int(known.sum())}/{len(known)})"

    everyone = pd.Series(True, index=df.index)
    rows.append(
        {"step": "cohort", "reason": "every patient in the analysis", "n": len(df), "outcome rate": rate(everyone)}
    )
    for group, count in reason[reason != ""].value_counts(sort=False).sort_index().items():
        rows.append({"step": "excluded", "reason": str(group), "n": int(count), "outcome rate": rate(reason == group)})
    if (reason != "").any():
        rows.append(
            {"step": "excluded (all)", "reason": "", "n": int((reason != "").sum()), "outcome rate": rate(reason != "")}
        )
    rows.append({"step": "analysed", "reason": "every input known and final", "n": int((reason == "").sum()),
                 "outcome rate": rate(reason == "")})  # fmt: skip
    return pd.DataFrame(rows)


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """Optimism-corrected figures (Harrell's bootstrap: refit on each resample, test on the original cohort) and the
    CI of the cross-validated AUC from re-running the whole cross-validation on each resample."""

    replicates: int
    auc_apparent: float
    auc_optimism: float
    brier_apparent: float
    brier_optimism: float
    slope_corrected: float  # the mean test slope: also the uniform shrinkage factor
    auc_cv_ci95: tuple[float, float]

    @property
    def auc_corrected(self) -> float:
        return self.auc_apparent - self.auc_optimism

    @property
    def brier_corrected(self) -> float:
        return self.brier_apparent - self.brier_optimism


# a resample that separates never converges: its fit stops here (ML converges in under ten steps otherwise)
_BOOT_ITER = 25


def _cv_predictions(x: np.ndarray, y: np.ndarray, folds: np.ndarray, k: int) -> np.ndarray:
    oof = np.empty(len(y))
    for f in range(k):
        test = folds == f
        oof[test] = sigmoid(x[test] @ fit_logit(x[~test], y[~test], max_iter=_BOOT_ITER, tol=1e-6).beta)
    return oof


def cv_predictions(x: np.ndarray, y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Out-of-fold predictions of a k-fold cross-validation (patients dealt to folds at random)."""
    folds = np.empty(len(y), dtype=int)
    folds[rng.permutation(len(y))] = np.arange(len(y)) % k
    return _cv_predictions(x, y, folds, k)


def bootstrap_validation(x: np.ndarray, y: np.ndarray, beta: np.ndarray, k: int, replicates: int,
                         rng: np.random.Generator) -> Bootstrap:  # fmt: skip
    n = len(y)
    p_app = sigmoid(x @ beta)
    auc_app, brier_app = _auc(y, p_app), brier(y, p_app)
    opt_auc, opt_brier, slopes, cv_aucs = [], [], [], []
    for _ in range(replicates):
        i = rng.integers(0, n, n)
        xb, yb = x[i], y[i]
        if yb.min() == yb.max():
            continue
        bb = fit_logit(xb, yb, max_iter=_BOOT_ITER, tol=1e-6).beta
        pb_boot, pb_orig = sigmoid(xb @ bb), sigmoid(x @ bb)
        opt_auc.append(_auc(yb, pb_boot) - _auc(y, pb_orig))
        opt_brier.append(brier(yb, pb_boot) - brier(y, pb_orig))
        lp = x @ bb
        if np.ptp(lp) > 0:
            slopes.append(fit_logit(np.column_stack([np.ones(n), lp]), y, max_iter=_BOOT_ITER, tol=1e-6).beta[1])
        # the cross-validation re-run on the resample, a patient's copies kept in one fold (no leak between folds)
        uniq = np.unique(i)
        fold_of = np.empty(n, dtype=int)
        fold_of[uniq[rng.permutation(len(uniq))]] = np.arange(len(uniq)) % k
        cv = _auc(yb, _cv_predictions(xb, yb, fold_of[i], k))
        if not math.isnan(cv):
            cv_aucs.append(cv)
    if not opt_auc or not cv_aucs:
        raise ValueError("no bootstrap resample had both outcomes")
    return Bootstrap(
        replicates=len(opt_auc),
        auc_apparent=auc_app,
        auc_optimism=float(np.mean(opt_auc)),
        brier_apparent=brier_app,
        brier_optimism=float(np.mean(opt_brier)),
        slope_corrected=float(np.mean(slopes)) if slopes else math.nan,
        auc_cv_ci95=(float(np.quantile(cv_aucs, 0.025)), float(np.quantile(cv_aucs, 0.975))),
    )


@dataclass(slots=True)
class ExternalValidation:
    table: pd.DataFrame  # measure, value, 95% CI, note
    flow: pd.DataFrame
    calibration: pd.DataFrame
    decision: pd.DataFrame
    n: int
    events: int


def external_validation(model: SiteModel, df: pd.DataFrame) -> ExternalValidation:
    """A saved model applied, unchanged, to another cohort (`df`: an analysis table with `input_*` and `why_*`):
    the patients it would score (every input known and final, within its training range), their AUC (DeLong CI),
    Brier score, calibration slope and in-the-large, observed/expected ratio, a calibration table and a decision
    curve. TRIPOD type 4 (validation of a published model)."""
    feats = list(model.features)

    def out_of_range(r: pd.Series) -> str:
        for f in feats:
            lo, hi = model.ranges[f]
            v = float(r[f"input_{f}"])
            if not lo <= v <= hi:
                return f"{f}: outside the range the model was fitted on ({lo:g} to {hi:g})"
        return ""

    flow = participant_flow(df, model.outcome, feats, out_of_range)
    cols = [f"input_{f}" for f in feats]
    d = df[[*cols, model.outcome]].dropna().rename(columns=dict(zip(cols, feats, strict=True)))
    inside = np.ones(len(d), dtype=bool)
    for f in feats:
        lo, hi = model.ranges[f]
        inside &= d[f].between(lo, hi).to_numpy()
    d = d[inside]
    y = d[model.outcome].to_numpy(dtype=float)
    if len(d) < 10 or y.min() == y.max():
        raise ValueError(f"{len(d)} patients the model applies to, events {int(y.sum()) if len(y) else 0}: "
                         "too few to validate it")  # fmt: skip
    x = design(d, feats, model.transforms)
    beta = np.array([model.intercept, *[model.coefficients[f] for f in feats]])
    p = sigmoid(x @ beta)
    auc = auc_delong(y, p)
    (slope, s_lo, s_hi), (citl, c_lo, c_hi) = calibration_with_ci(y, p)
    b = brier(y, p)
    b_max = float(np.mean(y)) * (1 - float(np.mean(y)))
    val = model.validation
    rows = [
        {"measure": "patients (events)", "value": f"{len(d)} ({int(y.sum())})", "95% CI": "",
         "development": f"{model.training['n']} ({model.training['events']})"},
        {"measure": "AUC", "value": f"{auc.auc:.3f}", "95% CI": f"{auc.lower:.3f}-{auc.upper:.3f} (DeLong)",
         "development": f"{val['auc_cv']:.3f} (cross-validated)"},
        {"measure": "Brier score", "value": f"{b:.4f}", "95% CI": "",
         "development": f"{val['brier_cv']:.4f} (cross-validated)" if "brier_cv" in val else ""},
        {"measure": "scaled Brier (1 - Brier / prevalence Brier)", "value": f"{1 - b / b_max:.3f}" if b_max else "",
         "95% CI": "", "development": ""},
        {"measure": "calibration slope", "value": f"{slope:.3f}", "95% CI": f"{s_lo:.3f}-{s_hi:.3f} (Wald)",
         "development": f"{val['calibration_slope']:.3f} (cross-validated)"},
        {"measure": "calibration-in-the-large (intercept, offset = linear predictor)", "value": f"{citl:.3f}",
         "95% CI": f"{c_lo:.3f} to {c_hi:.3f} (Wald)",
         "development": f"{val['calibration_intercept']:.3f} (cross-validated)"},
        {"measure": "observed / expected events", "value": f"{y.sum() / p.sum():.3f}", "95% CI": "",
         "development": ""},
    ]  # fmt: skip
    return ExternalValidation(
        pd.DataFrame(rows),
        flow,
        pd.DataFrame(calibration_table(y, p, bins=5 if len(d) < 500 else 10)),
        decision_curve(y, p),
        len(d),
        int(y.sum()),
    )
