"""Incidence tables: cytopenia and severe / new-onset severe cytopenia per lineage, before and after infusion."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["PUBLISHED_SEED000", "characteristics", "incidence_table", "published_comparison"]

_LINEAGES = (("neutrophils", "sn", "SN"), ("hemoglobin", "sa", "SA"), ("platelets", "st", "ST"))

# seed 000 (B-ALL, n = 76): Abstract, Results 'Incidence and Temporal Characteristics', Table 1.
PUBLISHED_SEED000: dict[str, tuple[float, str]] = {
    "new-onset SN": (70.0, "39/56, seed 000 Abstract"),
    "new-onset SA": (53.0, "35/66, seed 000 Abstract"),
    "new-onset ST": (48.0, "31/64, seed 000 Abstract"),
    "PHT (day 28)": (25.0, "19/76, seed 000 Table 1"),
    "CRS any grade": (81.58, "62/76, seed 000 Results"),
    "CRS grade 1-2 (mild)": (43.42, "33/76, seed 000 Results"),
    "CRS grade 3-4 (severe)": (38.16, "29/76, seed 000 Table 1"),
    "SN after infusion": (78.0, "seed 000 Results, Figure 1B"),
    "SA after infusion": (59.0, "seed 000 Results, Figure 1B"),
    "ST after infusion": (57.0, "seed 000 Results, Figure 1B"),
}


def _pct(num: float, den: float) -> float:
    return math.nan if den == 0 else round(100.0 * num / den, 1)


def _rate(s: pd.Series) -> tuple[int, int, float]:
    known = s.dropna()
    k, n = int(known.sum()), len(known)
    return k, n, _pct(k, n)


def incidence_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per lineage: cytopenia, severe (seed 000) before / after infusion, new-onset severe, CTCAE grade >= 3."""
    out = []
    for _, key, short in _LINEAGES:
        for label, col, denom_col in (
            ("cytopenia after infusion (seed 000)", f"cyto_{key}_after", None),
            (f"{short} before infusion (seed 000)", f"{key}_before", None),
            (f"{short} after infusion (seed 000)", f"{key}_after", None),
            (f"new-onset {short} (seed 000), among those without it before", f"{key}_new", f"{key}_before"),
            ("CTCAE grade >= 3 before infusion (seed 001)", f"g3_{key}_before", None),
            ("CTCAE grade >= 3 after infusion (seed 001)", f"g3_{key}_after", None),
        ):
            s = df[col]
            if denom_col is not None:
                s = s[df[denom_col] == 0]
            k, n, p = _rate(s)
            out.append({"lineage": short, "measure": label, "n_events": k, "n_at_risk": n, "percent": p})
    return pd.DataFrame(out)


def published_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """The seed-000 headline rates: 'this cohort' beside 'published'."""
    rows = []
    for short, key in (("SN", "sn"), ("SA", "sa"), ("ST", "st")):
        k, n, p = _rate(df[df[f"{key}_before"] == 0][f"{key}_new"])
        rows.append((f"new-onset {short}", k, n, p))
    rows.append(("PHT (day 28)", *_rate(df["pht_seed000"])))
    g = df["crs_grade"]
    rows.append(("CRS any grade", *_rate((g >= 1).astype(float).where(g.notna()))))
    rows.append(("CRS grade 1-2 (mild)", *_rate(g.between(1, 2).astype(float).where(g.notna()))))
    rows.append(("CRS grade 3-4 (severe)", *_rate((g >= 3).astype(float).where(g.notna()))))
    for short, key in (("SN", "sn"), ("SA", "sa"), ("ST", "st")):
        rows.append((f"{short} after infusion", *_rate(df[f"{key}_after"])))
    return pd.DataFrame(
        [
            {
                "measure": m,
                "this cohort": f"{p}% ({k}/{n})",
                "this cohort %": p,
                "published": f"{PUBLISHED_SEED000[m][0]}%",
                "published %": PUBLISHED_SEED000[m][0],
                "source": PUBLISHED_SEED000[m][1],
            }
            for m, k, n, p in rows
        ]
    )


def _median_range(s: pd.Series) -> str:
    s = s.dropna()
    if s.empty:
        return "n/a"
    return f"{s.median():.4g} [{s.min():.4g}-{s.max():.4g}] (n={len(s)})"


def characteristics(df: pd.DataFrame) -> pd.DataFrame:
    """Table 1: n, age, sex, baseline counts, CRS grade distribution, tocilizumab/steroids, CAR-HEMATOTOX."""
    n = len(df)
    items: list[tuple[str, str]] = [("patients, n", str(n)), ("age, years, median [range]", _median_range(df["age"]))]
    for sex in ("male", "female"):
        k = int((df["sex"] == sex).sum())
        items.append((f"{sex}, n (%)", f"{k} ({_pct(k, n)}%)"))
    for col, label in (
        ("baseline_neutrophils", "baseline ANC, x10^9/L"),
        ("baseline_hemoglobin", "baseline Hb, g/L"),
        ("baseline_platelets", "baseline PLT, x10^9/L"),
        ("baseline_ferritin", "baseline ferritin, ng/mL"),
        ("baseline_crp", "baseline CRP, mg/L"),
        ("tumour_burden_pct", "marrow tumour burden, %"),
    ):
        if col in df:
            items.append((f"{label}, median [range]", _median_range(df[col])))
    g = df["crs_grade"] if "crs_grade" in df else pd.Series(dtype=float)
    for label, mask in (
        ("CRS none", g == 0),
        ("CRS grade 1", g == 1),
        ("CRS grade 2", g == 2),
        ("CRS grade 3-4", g >= 3),
    ):
        k = int(mask.sum())
        items.append((f"{label}, n (%)", f"{k} ({_pct(k, n)}%)"))
    for col, label in (("tocilizumab", "tocilizumab"), ("corticosteroid", "corticosteroids")):
        if col in df:
            k = int(df[col].sum())
            items.append((f"{label}, n (%)", f"{k} ({_pct(k, n)}%)"))
    if "hematotox_score" in df:
        items.append(("CAR-HEMATOTOX score, median [range]", _median_range(df["hematotox_score"])))
        hi = df["hematotox_high"].dropna()
        items.append(("CAR-HEMATOTOX high (>= 2), n (%)", f"{int(hi.sum())} ({_pct(hi.sum(), len(hi))}%)"))
    for col, label in (
        ("pht_seed000", "PHT day 28 (seed 000)"),
        ("nonrec28_seed001", "not recovered day 28 (seed 001)"),
    ):
        k, m, p = _rate(df[col])
        items.append((f"{label}, n (%)", f"{k}/{m} ({p}%)"))
    return pd.DataFrame(items, columns=["characteristic", "value"])
