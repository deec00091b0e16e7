"""A UCUM code written for people: "10*9/L" → "×10⁹/L", "Cel" → "°C" (units.toml [display]).

The one place a unit is turned into text a clinician reads; machine-readable fields keep the UCUM code. A code with
no display name is returned as written (plain text: a markdown door escapes it like any other data).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources

__all__ = ["unit_text"]


@lru_cache(maxsize=1)
def _display() -> dict[str, str]:
    text = resources.files("cds_cyto.core.profile.data").joinpath("units.toml").read_text(encoding="utf-8")
    return {str(k): str(v) for k, v in tomllib.loads(text).get("display", {}).items()}


def unit_text(code: str | None) -> str:
    """The unit as a clinician reads it; "" for no unit."""
    if not code:
        return ""
    return _display().get(code, code)
