"""Cumulative incidence (Kaplan-Meier 1 - S, or Aalen-Johansen when death competes) and count curves by CRS group."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from scipy.stats import norm

__all__ = [
    "AJ_NOTE",
    "KM_NOTE",
    "CumulativeIncidence",
    "aalen_johansen",
    "count_curves_by_crs",
    "crs_group",
    "cumulative_incidence",
]

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
    """Cumulative incidence of `event_col` at `day_col`; a death (`death_day`) before the event competes with it.
    A patient whose event is unknown (NaN: no counts after infusion, no CRS record) is left out, not at risk."""
    df = df[df[event_col].notna()]
    t, e = _times(df, event_col, day_col)
    deaths = 0
    death = df["death_day"].to_numpy(dtype=float) if "death_day" in df else np.full(len(df), np.nan)
    competing = (e != 1) & ~np.isnan(death)  # died without the event: that event can no longer happen
    if competing.any():
        code = np.where(e == 1, 1, np.where(competing, 2, 0))
        t = np.where(code == 2, np.clip(death, 0.0, None), t)
        deaths = int((code == 2).sum())
        curve = aalen_johansen(t, code)
        estimator = f"Aalen-Johansen ({deaths} death{'s' if deaths != 1 else ''} compete{'s' if deaths == 1 else ''})"
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


def aalen_johansen(t: np.ndarray, code: np.ndarray) -> pd.DataFrame:
    """Cumulative incidence of cause 1 with cause 2 competing (0: censored), exact with tied days — lifelines'
    AalenJohansenFitter jitters ties at random, which daily data always has, so a re-run would differ.

    F1(t) = sum over event days t_j <= t of S(t_j-) d1_j / n_j, S the all-cause Kaplan-Meier; variance by the delta
    method (Marubini & Valsecchi 1995, eq. 10.12), 95% Wald interval clipped to [0, 1]. Rows: day, cif, lower, upper.
    """
    days = np.unique(t[code > 0])
    n = np.array([(t >= d).sum() for d in days], dtype=float)
    d1 = np.array([((t == d) & (code == 1)).sum() for d in days], dtype=float)
    d_all = np.array([((t == d) & (code > 0)).sum() for d in days], dtype=float)
    surv = np.cumprod(1.0 - d_all / n)
    s_before = np.concatenate([[1.0], surv[:-1]])
    cif = np.cumsum(s_before * d1 / n)
    var = np.empty(len(days))
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.where(n > d_all, d_all / (n * (n - d_all)), 0.0)
    for k in range(len(days)):
        diff = cif[k] - cif[: k + 1]
        var[k] = np.sum(
            diff**2 * greenwood[: k + 1]
            + s_before[: k + 1] ** 2 * d1[: k + 1] * (n[: k + 1] - d1[: k + 1]) / n[: k + 1] ** 3
            - 2 * diff * s_before[: k + 1] * d1[: k + 1] / n[: k + 1] ** 2
        )
    half = norm.ppf(0.975) * np.sqrt(np.clip(var, 0.0, None))
    start = pd.DataFrame({"day": [0.0], "cif": [0.0], "lower": [0.0], "upper": [0.0]})
    body = pd.DataFrame(
        {"day": days, "cif": cif, "lower": np.clip(cif - half, 0.0, 1.0), "upper": np.clip(cif + half, 0.0, 1.0)}
    )
    if len(body) and float(body["day"].iloc[0]) == 0.0:
        return body
    return pd.concat([start, body], ignore_index=True)


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
