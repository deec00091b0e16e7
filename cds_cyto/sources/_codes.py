"""Which Observation codes a patient fetch asks for: the profile's analyte and CRS-grade codes."""

from __future__ import annotations

from collections.abc import Iterable

from cds_cyto.profile import Profile, default_profile

__all__ = ["default_observation_codes"]


def default_observation_codes(profile: Profile | None = None, extra: Iterable[str] = ()) -> list[str]:
    """Every analyte code and CRS grade observation code of `profile` (site codes included, default: the package
    tables), then `extra`, as "system|code" without duplicates, in table order."""
    profile = profile or default_profile()
    codes = [code for analyte in profile.analytes.values() for code in analyte.codes]
    codes += sorted(profile.crs_grade_observation_codes)
    codes += extra
    return list(dict.fromkeys(codes))
