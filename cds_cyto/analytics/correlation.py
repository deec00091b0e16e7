"""Spearman correlations of nadirs and durations with peak (max lg) inflammatory markers (seed 000 Figures 3, 4G)."""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import spearmanr

from cds_cyto.analytics.stats import bh_qvalues

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
    """Long table: outcome, marker, rho, p, q_bh, n (pairs with both values known). BH q-values are over every test
    of the table; a marker no patient has is listed once per outcome as unavailable, never silently dropped."""
    rows = []
    for out_col, out_label in OUTCOMES.items():
        for m in markers:
            col = f"max_lg_{m}"
            pair = df[[out_col, col]].dropna() if col in df and out_col in df else pd.DataFrame()
            if len(pair) < 5 or pair[col].nunique() < 2 or pair[out_col].nunique() < 2:
                note = (
                    "unavailable: no patient has this marker"
                    if col not in df or df[col].isna().all()
                    else ("not tested: fewer than 5 pairs or no variation")
                )
                rows.append({"outcome": out_label, "marker": f"max lg {m}", "rho": math.nan, "p": math.nan,
                             "n": len(pair), "note": note})  # fmt: skip
                continue
            res = spearmanr(pair[out_col], pair[col])
            rho, p = float(res[0]), float(res[1])
            rows.append({"outcome": out_label, "marker": f"max lg {m}", "rho": rho, "p": p, "n": len(pair), "note": ""})
    out = pd.DataFrame(rows, columns=["outcome", "marker", "rho", "p", "n", "note"])
    out.insert(4, "q_bh", bh_qvalues(out["p"]) if len(out) else [])
    return out
