"""Analyses by CRS group and timing (seed 000 Figures 2A-B, 4A-F, 6A-D; Supplementary Tables 1-2).

Groups as seed 000: no CRS, mild (grade 1-2), severe (grade 3-4). Durations and recovery days are compared across the
three groups with Kruskal-Wallis, incidences with Pearson chi-square, as the paper did.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, kruskal, wilcoxon

__all__ = [
    "GROUPS",
    "fig2a_timing",
    "fig2b_incidence_by_crs",
    "fig4_duration_by_crs",
    "fig6_support_by_day",
    "support_by_crs",
    "temporal_characteristics",
]

GROUPS = ("no CRS", "mild CRS", "severe CRS")
_LINEAGES = (("sn", "SN"), ("sa", "SA"), ("st", "ST"))


def _median_ci(s: pd.Series) -> str:
    """Median with its distribution-free 95% CI (order statistics, binomial approximation)."""
    v = np.sort(s.dropna().to_numpy(dtype=float))
    n = len(v)
    if n == 0:
        return "n/a"
    half = 1.96 * math.sqrt(n) / 2
    lo, hi = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half) - 1)
    return f"{np.median(v):.4g} ({v[lo]:.4g}-{v[hi]:.4g}) n={n}"


def _median_range(s: pd.Series) -> str:
    v = s.dropna()
    return "n/a" if v.empty else f"{v.median():.4g} [{v.min():.4g} to {v.max():.4g}] n={len(v)}"


def _kw(samples: list[pd.Series]) -> float:
    groups = [g.dropna().to_numpy(dtype=float) for g in samples]
    groups = [g for g in groups if len(g) > 0]
    if len(groups) < 2 or len(np.unique(np.concatenate(groups))) < 2:
        return math.nan
    return float(kruskal(*groups).pvalue)


def _chi2(flags: list[pd.Series]) -> float:
    table = [[float(f.dropna().sum()), float(len(f.dropna()) - f.dropna().sum())] for f in flags]
    table = [r for r in table if sum(r) > 0]
    if len(table) < 2 or any(sum(c) == 0 for c in zip(*table, strict=True)):
        return math.nan
    return float(chi2_contingency(table, correction=False)[1])


def _incidence_by_group(flag: pd.Series, groups: pd.Series) -> dict[str, object]:
    """Per CRS group "x% (k/n)" of a yes/no column (n/a for an empty group), and the chi-square p across groups."""
    flags = [flag[groups == g] for g in GROUPS]
    cells: dict[str, object] = {}
    for g, f in zip(GROUPS, flags, strict=True):
        k, n = int(f.dropna().sum()), len(f.dropna())
        cells[g] = f"{100 * k / n:.1f}% ({k}/{n})" if n else "n/a"
    cells["chi2 p"] = _chi2(flags)
    return cells


def fig2b_incidence_by_crs(df: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """seed 000 Figure 2B: incidence of each (severe) cytopenia by CRS group, chi-square across the groups."""
    out = []
    for key, short in _LINEAGES:
        for label, col in ((f"cytopenia ({short} lineage)", f"cyto_{key}_after"), (short, f"{key}_after")):
            out.append({"measure": label, **_incidence_by_group(df[col], groups)})
    return pd.DataFrame(out)


def fig4_duration_by_crs(df: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """seed 000 Figure 4A-F: duration (A-C) and recovery day (D-F) of severe cytopenia, median (95% CI) by CRS
    group, Kruskal-Wallis across the groups. A-C as the paper: every patient with counts after infusion, "the
    duration of patients without cytopenia ... defined as 0"; beside it, labelled, the patients with the cytopenia
    only. D-F (the paper is silent on patients without one): patients with the cytopenia only."""
    out = []
    for key, short in _LINEAGES:
        has = (
            df[f"{key}_episode"].isin(["new-onset", "pre-existing"])
            if f"{key}_episode" in df
            else df[f"{key}_new"] == 1
        )
        everyone = pd.Series(True, index=df.index)
        for label, col, panel, mask in (
            (f"{short} duration, days (no {short}: 0, as seed 000)", f"{key}_duration", "A-C", everyone),
            (f"{short} duration, days, patients with {short} only", f"{key}_duration", "A-C (not in seed 000)", has),
            (f"{short} recovery day, patients with {short}", f"{key}_recovery_day", "D-F", has),
        ):
            samples = [df.loc[mask & (groups == g), col].dropna() for g in GROUPS]
            row: dict[str, object] = {"figure": f"seed 000 Fig 4{panel}", "measure": label}
            for g, s in zip(GROUPS, samples, strict=True):
                row[g] = _median_ci(s)
            row["Kruskal-Wallis p"] = _kw(samples)
            out.append(row)
    return pd.DataFrame(out)


def temporal_characteristics(df: pd.DataFrame) -> pd.DataFrame:
    """seed 000 Supplementary Tables 1 (severe cytopenia) and 2 (new-onset): onset, nadir, recovery day and
    duration, median [range], with Kruskal-Wallis across the three lineages."""

    def severe(k: str) -> pd.Series:
        return df[f"{k}_episode"].isin(["new-onset", "pre-existing"])

    def new_onset(k: str) -> pd.Series:
        return df[f"{k}_new"] == 1

    out = []
    for table, mask_of in (("Supp. Table 1 (severe)", severe), ("Supp. Table 2 (new-onset)", new_onset)):
        for label, col in (
            ("onset day", "{k}_onset_day"),
            ("nadir (peak) day", "{k}_nadir_day"),
            ("recovery day", "{k}_recovery_day"),
            ("duration, days", "{k}_duration"),
        ):
            samples = []
            row: dict[str, object] = {"table": table, "measure": label}
            for key, short in _LINEAGES:
                c = col.format(k=key)
                s = df.loc[mask_of(key), c] if c in df else pd.Series(dtype=float)
                samples.append(s)
                row[short] = _median_range(s)
            row["Kruskal-Wallis p"] = _kw(samples)
            out.append(row)
    return pd.DataFrame(out)


def fig2a_timing(df: pd.DataFrame) -> pd.DataFrame:
    """seed 000 Figure 2A: CRS onset/recovery against severe cytopenia onset/recovery, median [range], Wilcoxon
    signed-rank in patients with both (CRS came first in the paper)."""
    out = []
    for key, short in _LINEAGES:
        for what, crs_col, cyto_col in (
            ("onset day", "crs_onset_day", f"{key}_onset_day"),
            ("recovery day", "crs_recovery_day", f"{key}_recovery_day"),
        ):
            pair = df[[crs_col, cyto_col]].dropna() if crs_col in df else pd.DataFrame(columns=[crs_col, cyto_col])
            diff = pair[cyto_col] - pair[crs_col] if len(pair) else pd.Series(dtype=float)
            p = math.nan if len(pair) < 5 or (diff == 0).all() else float(wilcoxon(diff).pvalue)
            out.append(
                {
                    "lineage": short,
                    "measure": what,
                    "CRS": _median_range(pair[crs_col]) if len(pair) else "n/a",
                    short: _median_range(pair[cyto_col]) if len(pair) else "n/a",
                    "n paired": len(pair),
                    "Wilcoxon p": p,
                }
            )
    return pd.DataFrame(out)


_SUPPORT = (("any_gcsf", "G-CSF"), ("any_rbc", "red-cell transfusion"), ("any_platelet_tx", "platelet transfusion"),
            ("toci_or_steroid", "tocilizumab or corticosteroid"))  # fmt: skip


def support_by_crs(df: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """seed 000 Figure 6A: share of patients given each support by CRS group (chi-square across the groups)."""
    out: list[dict[str, object]] = []
    for col, label in _SUPPORT:
        if col not in df:
            out.append({"support": label, "note": "unavailable"})
            continue
        out.append({"support": label, **_incidence_by_group(df[col], groups)})
    return pd.DataFrame(out)


def fig6_support_by_day(events: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """seed 000 Figure 6B-D (and 6A's time course): per day, the percentage of patients given G-CSF, red cells,
    platelets, tocilizumab/corticosteroid. Rows: support, day, percent, n."""
    out = []
    for kind, table in events.items():
        n = len(table)
        for day in table.columns:
            k = int(table[day].sum())
            out.append({"support": kind, "day": int(day), "percent": 100.0 * k / n if n else math.nan, "n": n})
    return pd.DataFrame(out, columns=["support", "day", "percent", "n"])
