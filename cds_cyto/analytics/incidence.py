"""Incidence tables: cytopenia and severe / new-onset severe cytopenia per lineage, before and after infusion."""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import chi2_contingency

from cds_cyto.analytics.stats import mcnemar_paired

__all__ = [
    "PUBLISHED_SEED000",
    "PUBLISHED_SEED001",
    "characteristics",
    "crs_unknown_note",
    "fig1b_timepoints",
    "incidence_table",
    "paired_before_after",
    "published_comparison",
    "unobserved_after_infusion",
]

_LINEAGES = (("neutrophils", "sn", "SN"), ("hemoglobin", "sa", "SA"), ("platelets", "st", "ST"))

# seed 000 (B-ALL, n = 76): Abstract, Results 'Incidence and Temporal Characteristics', Table 1.
# A B-ALL cohort is compared with these; a B-NHL cohort with PUBLISHED_SEED001 (never the other paper's).
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


# seed 001 (B-NHL, n = 63): Abstract and Results 'Occurrence of cytopenia', 'hematologic recovery'.
PUBLISHED_SEED001: dict[str, tuple[float, str]] = {
    "grade >= 3 neutropenia after infusion": (76.19, "48/63, seed 001 Abstract"),
    "grade >= 3 anemia after infusion": (25.39, "16/63, seed 001 Abstract"),
    "grade >= 3 thrombocytopenia after infusion": (23.80, "15/63, seed 001 Abstract"),
    "not recovered at day 28": (35.0, "21/60, seed 001 Abstract"),
    "any-grade cytopenia of any lineage at baseline": (50.79, "32/63, seed 001 Results 'Occurrence of cytopenia'"),
    "any-grade neutropenia at baseline": (28.57, "18/63, seed 001 Results"),
    "any-grade anemia at baseline": (34.92, "22/63, seed 001 Results"),
    "any-grade thrombocytopenia at baseline": (14.28, "9/63, seed 001 Results"),
    "any-grade neutropenia after infusion": (96.82, "61/63, seed 001 Results"),
    "any-grade anemia after infusion": (73.01, "46/63, seed 001 Results"),
    "any-grade thrombocytopenia after infusion": (26.98, "17/63, seed 001 Results"),
    "CRS any grade": (69.84, "44/63: 40 grade 1-2 + 4 grade >= 3, seed 001 Results (Table SV)"),
}
# seed 001 Results: median nadir (range) and median nadir day per lineage (value unit as the paper)
PUBLISHED_SEED001_NADIRS: dict[str, tuple[str, str]] = {
    "sn": ("0.64 (0.02-2.31) x10^9/L", "day 5 (0-27)"),
    "sa": ("100 (32-137) g/L", "day 8 (-5-28)"),
    "st": ("121 (2-307) x10^9/L", "day 10 (0-28)"),
}
# seed 000 Results / Figure 1B: severe cytopenia at T1 (before lymphodepletion), T2 (before infusion), T3 (after)
PUBLISHED_FIG1B: dict[str, tuple[float, float, float]] = {"SN": (5, 26, 78), "SA": (9, 11, 59), "ST": (11, 11, 57)}


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
            ("CTCAE any grade at baseline, before lymphodepletion (seed 001)", f"ctcae1_{key}_baseline", None),
            ("CTCAE any grade after infusion (seed 001)", f"ctcae1_{key}_after", None),
            ("CTCAE grade >= 3 before infusion (seed 001)", f"g3_{key}_before", None),
            ("CTCAE grade >= 3 after infusion (seed 001)", f"g3_{key}_after", None),
        ):
            s = df[col]
            if denom_col is not None:
                s = s[df[denom_col] == 0]
            k, n, p = _rate(s)
            out.append({"lineage": short, "measure": label, "n_events": k, "n_at_risk": n, "percent": p})
    return pd.DataFrame(out)


def published_comparison(df: pd.DataFrame, disease: str = "all") -> pd.DataFrame:
    """The headline rates of the paper of the cohort's own population: B-ALL beside seed 000, B-NHL beside seed 001."""
    rows = []
    if disease == "nhl":
        for short, key in (("neutropenia", "sn"), ("anemia", "sa"), ("thrombocytopenia", "st")):
            rows.append((f"grade >= 3 {short} after infusion", *_rate(df[f"g3_{key}_after"])))
        rows.append(("not recovered at day 28", *_rate(df["nonrec28_seed001"])))
        before = df[[f"ctcae1_{k}_baseline" for k in ("sn", "sa", "st")]]
        # any lineage: known when one lineage is, or when all three are known (a NaN lineage cannot make it 0)
        anyl = before.max(axis=1).where(before.notna().all(axis=1) | (before == 1).any(axis=1))
        rows.append(("any-grade cytopenia of any lineage at baseline", *_rate(anyl)))
        for when, col in (("at baseline", "baseline"), ("after infusion", "after")):
            for short, key in (("neutropenia", "sn"), ("anemia", "sa"), ("thrombocytopenia", "st")):
                rows.append((f"any-grade {short} {when}", *_rate(df[f"ctcae1_{key}_{col}"])))
        g = df["crs_grade"]
        rows.append(("CRS any grade", *_rate((g >= 1).astype(float).where(g.notna()))))
        published = PUBLISHED_SEED001
    else:
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
        published = PUBLISHED_SEED000
    return pd.DataFrame(
        [
            {
                "measure": m,
                "this cohort": f"{p}% ({k}/{n})",
                "this cohort %": p,
                "published": f"{published[m][0]}%",
                "published %": published[m][0],
                "source": published[m][1],
            }
            for m, k, n, p in rows
        ]
    )


def paired_before_after(df: pd.DataFrame) -> pd.DataFrame:
    """Before vs after infusion in the same patients: McNemar (exact), not a test of independent proportions."""
    out = []
    for _, key, short in _LINEAGES:
        for label, before, after in (
            (f"{short} (seed 000 severe)", f"{key}_before", f"{key}_after"),
            (f"{short} (seed 001 grade >= 3)", f"g3_{key}_before", f"g3_{key}_after"),
        ):
            res = mcnemar_paired(df[before], df[after])
            out.append({"measure": label, **res})
    return pd.DataFrame(out)


def _chi2_p(a: pd.Series, b: pd.Series) -> float:
    """Pearson chi-square (no continuity correction) of two proportions, as seed 000 tested them."""
    a, b = a.dropna(), b.dropna()
    table = [[a.sum(), len(a) - a.sum()], [b.sum(), len(b) - b.sum()]]
    if min(len(a), len(b)) == 0 or sum(r[0] for r in table) == 0 or sum(r[1] for r in table) == 0:
        return math.nan
    return float(chi2_contingency(table, correction=False)[1])


def _bonferroni(p: float, m: int) -> float:
    return p if math.isnan(p) else min(1.0, m * p)


def fig1b_timepoints(df: pd.DataFrame) -> pd.DataFrame:
    """seed 000 Figure 1B: severe cytopenia at T1 (before lymphodepletion), T2 (before infusion), T3 (after),
    with the paper's Pearson chi-square, Bonferroni-adjusted over the 6 comparisons, and McNemar for the same
    pairs (the patients are the same at every time point, so McNemar is the test that fits)."""
    out = []
    for _, key, short in _LINEAGES:
        t1, t2, t3 = (
            df.get(f"{key}_before_ld", pd.Series(math.nan, index=df.index)),
            df[f"{key}_before"],
            df[f"{key}_after"],
        )
        pub = PUBLISHED_FIG1B[short]
        row: dict[str, object] = {"lineage": short}
        for name, s in (("T1", t1), ("T2", t2), ("T3", t3)):
            k, n, p = _rate(s)
            row[f"{name} %"] = p
            row[f"{name} n"] = f"{k}/{n}"
        for pair, a, b in (("T1 vs T2", t1, t2), ("T2 vs T3", t2, t3)):
            row[f"{pair} chi2 p (Bonferroni x6)"] = _bonferroni(_chi2_p(a, b), 6)
            row[f"{pair} McNemar p"] = mcnemar_paired(a, b)["p_mcnemar"]
        row["published T1/T2/T3 %"] = f"{pub[0]}/{pub[1]}/{pub[2]}"
        out.append(row)
    return pd.DataFrame(out)


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
        ("CRS unknown (no CRS record, no temperature charted)", g.isna() if len(g) else pd.Series(True, df.index)),
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


def unobserved_after_infusion(df: pd.DataFrame) -> str | None:
    """The note on patients left out of the after-infusion rates (T3, McNemar pairs, incidence): no result of a
    lineage from infusion to the as-of day, so neither 'cytopenia' nor 'none' can be said; None when there are none."""
    if df.empty:
        return None
    follow = df["follow_up_day"] if "follow_up_day" in df else pd.Series(math.nan, index=df.index)
    not_infused = follow.isna() | (follow < 0)
    parts = []
    for _, key, short in _LINEAGES:
        unknown = df[f"{key}_after"].isna()
        if unknown.any():
            k_inf = int((unknown & not_infused).sum())
            k_res = int((unknown & ~not_infused).sum())
            why = [f"{k_inf} not infused by the as-of day"] if k_inf else []
            why += [f"{k_res} without a result after infusion"] if k_res else []
            parts.append(f"{short}: {int(unknown.sum())} ({', '.join(why)})")
    if not parts:
        return None
    return (
        "Left out of every after-infusion rate and pair (T3, McNemar, incidence after infusion, new-onset), not "
        "counted as without cytopenia: " + "; ".join(parts) + "."
    )


def crs_unknown_note(df: pd.DataFrame) -> str | None:
    """The note beside every CRS rate when some patients have no CRS record: those rates are among the patients with
    one, and an absent record is not 'no CRS'."""
    g = df["crs_grade"] if "crs_grade" in df else pd.Series(math.nan, index=df.index)
    k = int(g.isna().sum())
    if k == 0:
        return None
    return (
        f"CRS unknown for {k} of {len(df)} patients ({_pct(k, len(df))}%: no CRS Condition or daily grade and no "
        f"temperature charted): every CRS rate is among the {len(df) - k} with a record, and an absent record is not "
        "'no CRS'."
    )
