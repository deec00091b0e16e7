"""CTCAE grading of one value against a declarative band table (criteria.toml)."""

from __future__ import annotations

from cds_cyto.core.profile import CtcaeTerm

__all__ = ["grade"]


def grade(term: CtcaeTerm, value: float, lln: float | None) -> int | None:
    """The CTCAE grade of `value` (canonical unit); 0 when normal; None when it cannot be told.

    Bands run from the most severe; a band applies when value < its bound. The grade-1 band's bound is the LLN:
    without one, a value above every numeric bound cannot be told apart between grade 0 and grade 1.
    """
    for band in term.bands:
        bound = band.below
        if bound is None:
            if lln is None:
                return None
            bound = lln
        if value < bound:
            return band.grade
    return 0
