"""Which Observation codes a patient fetch asks for, read from the package's clinical code tables."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib import resources
from typing import Any

__all__ = ["default_observation_codes"]


def _table(name: str) -> dict[str, Any]:
    return tomllib.loads(resources.files("cds_cyto").joinpath("data", name).read_text(encoding="utf-8"))


def default_observation_codes(extra: Iterable[str] = ()) -> list[str]:
    """Every analyte code (analytes.toml) and CRS grade observation code (codes.toml), then `extra`
    (a site's configured codes), as "system|code" without duplicates, in table order."""
    codes: list[str] = []
    for analyte in _table("analytes.toml")["analytes"].values():
        codes.extend(analyte.get("codes", []))
    codes.extend(_table("codes.toml")["crs"].get("grade_observation_codes", []))
    codes.extend(extra)
    return list(dict.fromkeys(codes))
