"""Spearman correlations of nadirs and durations with peak (max lg) inflammatory markers (seed 000 Figures 3, 4G)."""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import spearmanr

__all__ = ["OUTCOMES", "spearman_table"]

OUTCOMES = {
    "nadir_sn": "nadir ANC",
    "nadir_sa": "nadir Hb",
    "nadir_st": "nadir PLT",
    "sn_duration": "SN duration",
    "sa_duration": "SA duration",
    "st_duration": "ST duration",
}


def spearman_table(df: pd.DataFrame, markers: list[str]) -> pd.DataFrame:
    """Long table: outcome, marker, rho, p, n (pairs with both values known; markers without data are left out)."""
    rows = []
    for out_col, out_label in OUTCOMES.items():
        for m in markers:
            col = f"max_lg_{m}"
            if col not in df or out_col not in df:
                continue
            pair = df[[out_col, col]].dropna()
            if len(pair) < 5 or pair[col].nunique() < 2 or pair[out_col].nunique() < 2:
                continue
            res = spearmanr(pair[out_col], pair[col])
            rho, p = float(res[0]), float(res[1])
            rows.append({"outcome": out_label, "marker": f"max lg {m}", "rho": rho, "p": p, "n": len(pair)})
    return pd.DataFrame(rows, columns=["outcome", "marker", "rho", "p", "n"]).fillna(math.nan)
