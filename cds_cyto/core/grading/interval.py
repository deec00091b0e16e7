"""Censored values as intervals, and three-valued comparisons on them (clinical-reference §1).

"<x" is strictly below x, "<=x" at most x, ">x" strictly above, ">=x" at least. A criterion holds (True) when it
holds for every value in the interval, fails (False) when it fails for every value, and is otherwise unknown (None):
never a guess. An exact value is the one-point interval, so the comparisons agree with plain ones on it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from cds_cyto.core.extract.record import LabResult
from cds_cyto.core.profile import CtcaeTerm
from cds_cyto.core.profile.unit_text import unit_text

__all__ = [
    "Grade",
    "Interval",
    "Value",
    "above",
    "at_least",
    "at_most",
    "below",
    "ctcae_grade",
    "interval_of",
    "lowest",
    "order_key",
    "rank",
    "shown",
    "test",
    "value_text",
]


@dataclass(frozen=True, slots=True)
class Interval:
    """The values a result can be: from `lo` to `hi`, each end excluded when its `*_open` flag says so."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    @property
    def exact(self) -> float | None:
        return self.lo if self.lo == self.hi else None


# A value of a daily series or a point: a plain number (exact) or the interval of a censored result.
Value = float | Interval

_INF = math.inf


def interval(value: float, comparator: str | None) -> Interval:
    if comparator == "<":
        return Interval(-_INF, value, True, True)
    if comparator == "<=":
        return Interval(-_INF, value, True, False)
    if comparator == ">":
        return Interval(value, _INF, True, True)
    if comparator == ">=":
        return Interval(value, _INF, False, True)
    return Interval(value, value)


def interval_of(r: LabResult) -> Value:
    """The result as a series value: its number when exact, its interval when censored."""
    return r.value if r.censored is None else interval(r.value, r.censored)


def _as_interval(v: Value | LabResult) -> Interval:
    if isinstance(v, LabResult):
        return interval(v.value, v.censored)
    if isinstance(v, Interval):
        return v
    return Interval(v, v)


def below(v: Value | LabResult, cut: float) -> bool | None:
    """v < cut."""
    if v.__class__ is float or v.__class__ is int:  # the common case first: an exact number
        return v < cut
    if v.__class__ is LabResult and v.censored is None:
        return v.value < cut
    i = _as_interval(v)
    if i.hi < cut or (i.hi == cut and i.hi_open):
        return True
    if i.lo >= cut:
        return False
    return None


def at_most(v: Value | LabResult, cut: float) -> bool | None:
    """v ≤ cut."""
    if v.__class__ is float or v.__class__ is int:  # the common case first: an exact number
        return v <= cut
    if v.__class__ is LabResult and v.censored is None:
        return v.value <= cut
    i = _as_interval(v)
    if i.hi <= cut:
        return True
    if i.lo > cut or (i.lo == cut and i.lo_open):
        return False
    return None


def at_least(v: Value | LabResult, cut: float) -> bool | None:
    """v ≥ cut."""
    b = below(v, cut)
    return None if b is None else not b


def above(v: Value | LabResult, cut: float) -> bool | None:
    """v > cut."""
    m = at_most(v, cut)
    return None if m is None else not m


def test(op: str, v: Value | LabResult, cut: float) -> bool | None:
    """`v op cut` for op "<", "<=", ">", ">=" (a criterion table's comparison), three-valued."""
    return _TESTS[op](v, cut)


_TESTS = {"<": below, "<=": at_most, ">": above, ">=": at_least}


def lowest(values: Iterable[Value]) -> Value:
    """The interval of the minimum of several values (a day's lowest): each end is the lowest of its ends."""
    items = [_as_interval(v) for v in values]
    lo = min(items, key=lambda i: (i.lo, i.lo_open)).lo
    lo_open = all(i.lo_open for i in items if i.lo == lo)
    hi_end = min(items, key=lambda i: (i.hi, not i.hi_open))
    out = Interval(lo, hi_end.hi, lo_open, hi_end.hi_open)
    return out.lo if out.exact is not None and not out.lo_open and not out.hi_open else out


_RANK = {"<": -2, "<=": -1, ">=": 1, ">": 2}


def rank(comparator: str | None) -> int:
    """Where a bound of this comparator sorts among values equal to it: "<x" before x before ">x"."""
    return _RANK.get(comparator, 0) if comparator is not None else 0


def order_key(r: LabResult) -> tuple[float, int]:
    """Sorts results low to high: by value, a "<x" before an exact x before a ">x" (for a nadir or a peak)."""
    return r.value, rank(r.censored)


def shown(r: LabResult, unit: str | None = None) -> str:
    """The value as a clinician reads it: "<0.5 ×10⁹/L", never the bare bound of a censored value. `unit` is a UCUM
    code (r.unit) written for people (`unit_text`); text that is no UCUM code is kept as given."""
    text = f"{r.censored or ''}{r.value:g}"
    return f"{text} {unit_text(unit)}" if unit else text


def value_text(v: Value) -> str:
    """A series value as text: "0.3", "<0.1", ">=20", or both ends of a censored day's lowest (">0.2, <=0.3")."""
    if not isinstance(v, Interval):
        return f"{v:g}"
    ends = []
    if v.lo != -_INF:
        ends.append(f"{'>' if v.lo_open else '>='}{v.lo:g}")
    if v.hi != _INF:
        ends.append(f"{'<' if v.hi_open else '<='}{v.hi:g}")
    return ", ".join(ends)


@dataclass(frozen=True, slots=True)
class Grade:
    """A CTCAE grade: exact, or a lower bound ("≥ 3") when a censored value spans several grades."""

    lowest: int
    exact: bool = True

    def __str__(self) -> str:
        return str(self.lowest) if self.exact else f"≥ {self.lowest}"


def _grade_at(term: CtcaeTerm, value: float, lln: float | None, inclusive: bool) -> int | None:
    """The grade just below `value` (`inclusive` False: the limit from below) or at it; None when the LLN decides."""
    for band in term.bands:
        bound = band.below if band.below is not None else lln
        if bound is None:
            return None
        if value < bound or (not inclusive and value == bound):
            return band.grade
    return 0


def ctcae_grade(term: CtcaeTerm, value: Value | LabResult, lln: float | None) -> Grade | None:
    """The CTCAE grade of every value the result can be. Bands are "value < bound", so the grade falls as the value
    rises: the interval's top end gives the lowest grade, its bottom end the highest. All one grade → exact; grades
    from g ≥ 1 up → a lower bound; a span that reaches grade 0 (or an LLN that is not known) → None."""
    i = _as_interval(value)
    top = _grade_at(term, i.hi, lln, inclusive=not i.hi_open) if i.hi != _INF else _grade_at(term, _INF, lln, True)
    if top is None:
        return None
    bottom = term.bands[0].grade if i.lo == -_INF else _grade_at(term, i.lo, lln, inclusive=True)
    if bottom == top:
        return Grade(top)
    return Grade(top, exact=False) if top >= 1 else None
