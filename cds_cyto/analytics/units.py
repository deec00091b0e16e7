"""The unit of every covariate the models use, read from the profile (the analyte's canonical UCUM unit), so each
table says what one unit of an HR or OR is."""

from __future__ import annotations

import pandas as pd

from cds_cyto.core.profile import Profile

__all__ = ["add_units", "covariate_unit"]

_FIXED = {
    "tumour_burden_pct": "% marrow blasts",
    "age": "years",
    "sex_male": "1 = male",
    "crs_grade": "ASTCT grade 0-4",
    "ecog": "ECOG 0-4",
    "crs_onset_day": "days after infusion",
    "crs_peak_day": "days after infusion",
    "crs_recovery_day": "days after infusion",
}
_FLAGS = ("crs_any", "crs_grade_3_4", "toci_or_steroid", "baseline_anc_below_2_29", "baseline_hb_below_114_5",
          "baseline_il6_above_21_43")  # fmt: skip


def _canonical(analyte: str, profile: Profile) -> str | None:
    a = profile.analytes.get(analyte)
    return None if a is None else profile.dimensions[a.dimension].canonical


def covariate_unit(name: str, profile: Profile) -> str:
    if name in _FIXED:
        return _FIXED[name]
    if name in _FLAGS:
        return "1 = yes"
    if name.startswith("max_lg_"):
        unit = _canonical(name.removeprefix("max_lg_"), profile)
        return "" if unit is None else f"log10 {unit}"
    if name.startswith("baseline_"):
        return _canonical(name.removeprefix("baseline_"), profile) or ""
    return ""


def add_units(table: pd.DataFrame, profile: Profile, column: str = "covariate") -> pd.DataFrame:
    """`table` with a `unit` column right after `column` (unchanged when it has no such column)."""
    if column not in table or "unit" in table:
        return table
    out = table.copy()
    out.insert(list(out.columns).index(column) + 1, "unit", [covariate_unit(str(c), profile) for c in out[column]])
    return out
