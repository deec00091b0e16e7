"""Unit-safe normalisation of a FHIR Quantity to its analyte's canonical unit.

When `Quantity.system` is UCUM, `Quantity.code` decides; otherwise `Quantity.unit` is read through the alias table
of `units.toml`: first the spellings of the analyte's dimension matched exactly ("G/L" is a count), then the folded
ones. A unit that resolves to nothing in the analyte's dimension is a problem, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_cyto.core.profile import AnalyteDef, Profile
from cds_cyto.core.profile.unit_text import unit_text

__all__ = ["UCUM", "Conversion", "UnitNormaliser", "UnitProblem", "fold_unit"]

UCUM = "http://unitsofmeasure.org"
_ANNOTATIONS = ("{FEU}", "{DDU}")


class UnitProblem(ValueError):
    """The unit is missing, unknown, or not one this analyte can have."""


@dataclass(frozen=True, slots=True)
class Conversion:
    factor: float
    offset: float
    ucum: str  # the UCUM code the source unit resolved to
    note: str | None = None


def fold_unit(text: str) -> str:
    """The alias-table key of a unit spelling: no spaces, µ/μ → u, lower case."""
    return "".join(text.split()).replace("\u00b5", "u").replace("\u03bc", "u").lower()


class UnitNormaliser:
    """Resolves (analyte, system, code, unit, loinc) to a conversion; results are cached per distinct input."""

    __slots__ = ("_cache", "_profile")

    def __init__(self, profile: Profile) -> None:
        self._profile = profile
        self._cache: dict[tuple[str, str | None, str | None, str | None, str], Conversion | str] = {}

    def conversion(
        self,
        analyte: AnalyteDef,
        system: str | None,
        code: str | None,
        unit: str | None,
        loinc: str,
    ) -> Conversion:
        key = (analyte.name, system, code, unit, loinc)
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = self._resolve(analyte, system, code, unit, loinc)
            except UnitProblem as exc:
                hit = str(exc)
            self._cache[key] = hit
        if isinstance(hit, str):
            raise UnitProblem(hit)
        return hit

    def _resolve(
        self,
        analyte: AnalyteDef,
        system: str | None,
        code: str | None,
        unit: str | None,
        loinc: str,
    ) -> Conversion:
        if system == UCUM and code:
            written = code
        elif unit and unit.strip():
            written = unit
        elif code and not system:
            written = code
        else:
            raise UnitProblem(f"{analyte.label}: no unit given")
        dim = self._profile.dimensions[analyte.dimension]
        ucum = (
            written
            if written in dim.factors
            else self._profile.exact_unit_aliases.get(analyte.dimension, {}).get("".join(written.split()))
            or self._profile.unit_aliases.get(fold_unit(written))
        )
        if ucum is None:
            raise UnitProblem(f"{analyte.label}: unit {written!r} is not recognised")
        note = None
        if analyte.ddu_codes or analyte.dimension == "ddimer":
            ucum, note = self._ddimer_basis(analyte, ucum, loinc)
        if ucum not in dim.factors:
            raise UnitProblem(f"{analyte.label}: unit {written!r} is not a unit of {unit_text(dim.canonical)}")
        factor = dim.factors[ucum]
        if note is not None:
            factor *= 2.0
        return Conversion(factor, dim.offsets.get(ucum, 0.0), ucum, note)

    @staticmethod
    def _ddimer_basis(analyte: AnalyteDef, ucum: str, loinc: str) -> tuple[str, str | None]:
        """D-dimer: the basis (FEU or DDU) comes from the LOINC code; a unit annotation must agree with it."""
        is_ddu = loinc in analyte.ddu_codes
        for annotation in _ANNOTATIONS:
            if ucum.endswith(annotation):
                if (annotation == "{DDU}") != is_ddu:
                    raise UnitProblem(
                        f"{analyte.label}: unit says {annotation[1:-1]} but the code {loinc} says "
                        f"{'DDU' if is_ddu else 'FEU'}"
                    )
                ucum = ucum.removesuffix(annotation)
                break
        return ucum, ("D-dimer DDU converted to FEU ×2" if is_ddu else None)
