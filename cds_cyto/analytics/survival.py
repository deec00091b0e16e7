"""Cumulative incidence (Kaplan-Meier 1 - S, or Aalen-Johansen when death competes) and count curves by CRS group."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import AalenJohansenFitter, KaplanMeierFitter

__all__ = ["AJ_NOTE", "KM_NOTE", "CumulativeIncidence", "count_curves_by_crs", "crs_group", "cumulative_incidence"]

AJ_NOTE = (
    "Aalen-Johansen: death before the event (Patient.deceased) is a competing risk, not a censoring; 1 - KM would "
    "overstate the incidence."
)
KM_NOTE = (
    "Kaplan-Meier 1 - S: no death before the event is recorded in this cohort (Patient.deceased), so there is no "
    "competing risk and Aalen-Johansen reduces to it."
)
AT_RISK_DAYS = tuple(range(0, 31, 5))


@dataclass(frozen=True, slots=True)
class CumulativeIncidence:
    event: str
    estimator: str
    curve: pd.DataFrame  # day, cif, lower, upper
    at_day_30: float
    n: int
    at_risk: dict[int, int]  # day → patients still at risk (no event, no death, not censored before it)
    deaths: int = 0


def _times(df: pd.DataFrame, event_col: str, day_col: str) -> tuple[np.ndarray, np.ndarray]:
    event = df[event_col].fillna(0).to_numpy(dtype=float)
    follow = df["follow_up_day"].fillna(0).clip(lower=0).to_numpy(dtype=float)
    day = df[day_col].to_numpy(dtype=float)
    t = np.where(event == 1, np.nan_to_num(day, nan=0.0), np.minimum(follow, 100.0))
    return np.clip(t, 0.0, None), event


def cumulative_incidence(df: pd.DataFrame, name: str, event_col: str, day_col: str) -> CumulativeIncidence:
    """Cumulative incidence of `event_col` at `day_col`; a death (`death_day`) before the event competes with it."""
    t, e = _times(df, event_col, day_col)
    deaths = 0
    death = df["death_day"].to_numpy(dtype=float) if "death_day" in df else np.full(len(df), np.nan)
    competing = (e != 1) & ~np.isnan(death)  # died without the event: that event can no longer happen
    if competing.any():
        code = np.where(e == 1, 1, np.where(competing, 2, 0))
        t = np.where(code == 2, np.clip(death, 0.0, None), t)
        deaths = int((code == 2).sum())
        ajf = AalenJohansenFitter(calculate_variance=True).fit(t, code, event_of_interest=1)
        cif = ajf.cumulative_density_
        ci = ajf.confidence_interval_cumulative_density_
        curve = pd.DataFrame(
            {"day": cif.index, "cif": cif.iloc[:, 0].to_numpy(), "lower": ci.iloc[:, 0], "upper": ci.iloc[:, 1]}
        )
        estimator = f"Aalen-Johansen ({deaths} deaths compete)"
    else:
        kmf = KaplanMeierFitter().fit(t, e)
        ci = kmf.confidence_interval_survival_function_
        curve = pd.DataFrame(
            {
                "day": kmf.survival_function_.index.to_numpy(),
                "cif": 1.0 - kmf.survival_function_.iloc[:, 0].to_numpy(),
                "lower": 1.0 - ci.iloc[:, 1].to_numpy(),
                "upper": 1.0 - ci.iloc[:, 0].to_numpy(),
            }
        )
        estimator = "Kaplan-Meier 1 - S (no competing death in the data)"
    upto = curve[curve["day"] <= 30]
    at30 = float(upto["cif"].iloc[-1]) if not upto.empty else math.nan
    at_risk = {d: int((t >= d).sum()) for d in AT_RISK_DAYS}
    return CumulativeIncidence(name, estimator, curve.reset_index(drop=True), at30, len(t), at_risk, deaths)


def crs_group(grade: pd.Series) -> pd.Series:
    """seed 000: no CRS, mild (grade 1-2), severe (grade 3-4)."""
    return pd.Series(
        np.select([grade == 0, grade.between(1, 2), grade >= 3], ["no CRS", "mild CRS", "severe CRS"], "unknown"),
        index=grade.index,
    )


def count_curves_by_crs(daily: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Mean +- SEM by day and CRS group (seed 000 Figure 2C-E). Rows: group, day, mean, sem, n."""
    out = []
    for g in ("no CRS", "mild CRS", "severe CRS"):
        sub = daily.loc[groups[groups == g].index.intersection(daily.index)]
        for day in daily.columns:
            v = sub[day].dropna()
            n = len(v)
            sem = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
            out.append({"group": g, "day": int(day), "mean": float(v.mean()) if n else math.nan, "sem": sem, "n": n})
    return pd.DataFrame(out)
