"""Small statistical tools the analyses share: BH q-values, McNemar, AUC with a DeLong CI, the events-per-variable
guard and the plausibility check on ratio estimates."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

__all__ = [
    "MIN_EPV_FIT",
    "MIN_EPV_WARN",
    "Auc",
    "EpvVerdict",
    "auc_delong",
    "bh_qvalues",
    "epv_verdict",
    "implausible_ratio",
    "mcnemar_paired",
]

# Events per variable: below 5 a multivariable fit is refused, below 10 it is shown with a warning
# (Peduzzi et al. 1996, J Clin Epidemiol 49:1373; Vittinghoff & McCulloch 2007, Am J Epidemiol 165:710).
MIN_EPV_FIT = 5.0
MIN_EPV_WARN = 10.0
# A ratio beyond these, or a CI spanning more than this factor, is a symptom of sparse data or separation.
_RATIO_LIMIT = 1e3
_CI_SPAN_LIMIT = 1e4


def bh_qvalues(p: pd.Series | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values over the family `p` (NaN p-values stay NaN and are not counted)."""
    arr = np.asarray(p, dtype=float)
    q = np.full(arr.shape, math.nan)
    known = ~np.isnan(arr)
    if known.any():
        q[known] = multipletests(arr[known], method="fdr_bh")[1]
    return q


def mcnemar_paired(before: pd.Series, after: pd.Series) -> dict[str, float]:
    """Exact McNemar test of paired proportions (patients with both known): b = yes→no, c = no→yes."""
    pair = pd.concat([before, after], axis=1).dropna()
    b0, a0 = pair.iloc[:, 0].astype(int), pair.iloc[:, 1].astype(int)
    table = [[int(((b0 == 1) & (a0 == 1)).sum()), int(((b0 == 1) & (a0 == 0)).sum())],
             [int(((b0 == 0) & (a0 == 1)).sum()), int(((b0 == 0) & (a0 == 0)).sum())]]  # fmt: skip
    n = len(pair)
    p = math.nan if n == 0 else float(mcnemar(table, exact=True).pvalue)
    return {
        "n_paired": float(n),
        "before_yes_after_no": float(table[0][1]),
        "before_no_after_yes": float(table[1][0]),
        "p_mcnemar": p,
    }


@dataclass(frozen=True, slots=True)
class Auc:
    auc: float
    lower: float
    upper: float
    n_pos: int
    n_neg: int


def auc_delong(y: np.ndarray, score: np.ndarray) -> Auc:
    """AUC (Mann-Whitney, ties one half) with a DeLong 95% CI (DeLong et al. 1988), clipped to [0, 1]."""
    y = np.asarray(y, dtype=float)
    s = np.asarray(score, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return Auc(math.nan, math.nan, math.nan, m, n)
    ranks = rankdata(np.concatenate([pos, neg]))
    auc = float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))
    # placement values: the share of the other class each observation beats (ties one half)
    v10 = (ranks[:m] - rankdata(pos)) / n
    v01 = 1.0 - (ranks[m:] - rankdata(neg)) / m
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    half = float(norm.ppf(0.975) * math.sqrt(max(var, 0.0)))
    return Auc(auc, max(0.0, auc - half), min(1.0, auc + half), m, n)


@dataclass(frozen=True, slots=True)
class EpvVerdict:
    events: int
    variables: int
    epv: float
    fit: bool
    note: str


def epv_verdict(events: int, variables: int) -> EpvVerdict:
    """Whether a model with `variables` covariates may be fitted on `events` events, and what to say about it."""
    epv = math.inf if variables == 0 else events / variables
    if epv < MIN_EPV_FIT:
        note = (
            f"not estimated: {events} events for {variables} covariates (EPV {epv:.1f} < {MIN_EPV_FIT:g}); "
            "a fit would print unstable ratios"
        )
        return EpvVerdict(events, variables, epv, False, note)
    if epv < MIN_EPV_WARN:
        return EpvVerdict(
            events,
            variables,
            epv,
            True,
            f"caution: EPV {epv:.1f} < {MIN_EPV_WARN:g}, estimates may be biased away from 1",
        )
    return EpvVerdict(events, variables, epv, True, "")


def implausible_ratio(ratio: float, lower: float, upper: float) -> str:
    """A warning when a hazard/odds ratio or its CI is beyond what sparse data can support ('' when plausible)."""
    finite = all(math.isfinite(v) for v in (ratio, lower, upper)) and lower > 0
    if not finite:
        return "unstable: the CI is unbounded (separation or too few events)"
    if ratio > _RATIO_LIMIT or ratio < 1 / _RATIO_LIMIT or upper / lower > _CI_SPAN_LIMIT:
        return "unstable: implausible ratio or CI width (sparse data); do not interpret"
    return ""
