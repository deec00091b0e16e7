"""Which Observation codes a patient fetch asks for: the profile's analyte, CRS-grade and panel codes, each also
under the other names of its code system."""

from __future__ import annotations

from collections.abc import Iterable

from cds_cyto.core.profile import Profile, default_profile

__all__ = ["default_observation_codes"]


def default_observation_codes(profile: Profile | None = None, extra: Iterable[str] = ()) -> list[str]:
    """Every analyte code, CRS grade observation code and panel code of `profile` (site codes included, default: the
    package tables), then `extra`, as "system|code" without duplicates, in table order; then the same codes under
    each other name of their system (LOINC's OID): a server matches a token's system as written, so an Observation
    coded `urn:oid:2.16.840.1.113883.6.1|751-8` is found only by that spelling."""
    profile = profile or default_profile()
    codes = [code for analyte in profile.analytes.values() for code in analyte.codes]
    codes += sorted(profile.crs_grade_observation_codes)
    codes += profile.panel_codes
    codes += extra
    named = list(dict.fromkeys(codes))
    for alias, system in profile.code_systems.items():
        named += [f"{alias}|{code.split('|', 1)[1]}" for code in named if code.split("|", 1)[0] == system]
    return list(dict.fromkeys(named))
