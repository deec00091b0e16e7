"""What the timeline page shows, read from one Assessment (and the record it was made from): the results of ANC, Hb
and PLT by day from infusion, the profile's thresholds, the therapy events, CRS, and the results left out.

No clinical rule is decided here: every number comes from the Assessment or the profile as it is in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.extract.record import LabResult
from cds_cyto.core.profile import Profile

__all__ = ["LINEAGE_VIEWS", "EventMark", "Lineage", "Point", "Threshold", "Timeline", "build_timeline"]


@dataclass(frozen=True, slots=True)
class LineageView:
    lineage: str
    label: str  # what the page calls it
    log_scale: bool  # counts span two decades around their thresholds: a log axis keeps the low end readable
    # the thresholds.toml sections (and key) whose number is drawn as a line on this lineage's chart
    intervention: tuple[tuple[str, str], ...]


LINEAGE_VIEWS = (
    LineageView("neutrophils", "ANC", True, (("gcsf_therapeutic", "anc_below"),)),
    LineageView("hemoglobin", "Hb", False, (("rbc_transfusion", "hb_below"),)),
    LineageView("platelets", "PLT", True, (("platelet_transfusion", "plt_below"),)),
)

# The therapy events marked on the timeline, in lane order, with their name on the page and a letter drawn in the
# mark (so the kind is read from the text, never from its colour alone).
EVENT_LANES = (
    ("gcsf", "G-CSF", "G"),
    ("rbc_transfusion", "Red cells", "R"),
    ("platelet_transfusion", "Platelets", "P"),
    ("blood_product_transfusion", "Other blood product", "B"),
    ("tocilizumab", "Tocilizumab", "T"),
    ("corticosteroid", "Corticosteroid", "S"),
)


@dataclass(frozen=True, slots=True)
class Point:
    day: int
    at: float  # where on the day axis: the day plus the lab's own clock time, so same-day results stand apart
    value: float  # canonical unit: where it is drawn
    unit: str
    shown: str  # the value as the lab wrote it, with its unit ("<0.1 10*9/L", "11.2 g/dL")
    time: str  # ISO instant as written
    source: str | None
    censored: str | None  # the comparator of a bound ("<" …): drawn as a bound, never as a plain point
    derived: bool


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    label: str  # every rule that uses this number: "< 0.5: seed 000 severe; Therapeutic G-CSF"


@dataclass(frozen=True, slots=True)
class Lineage:
    lineage: str
    label: str
    unit: str
    log_scale: bool
    points: tuple[Point, ...]
    thresholds: tuple[Threshold, ...]


@dataclass(frozen=True, slots=True)
class EventMark:
    kind: str
    label: str
    letter: str
    day: int
    end_day: int | None
    when: str
    source: str | None


@dataclass(frozen=True, slots=True)
class CrsBand:
    start_day: int
    end_day: int | None  # None: not abated by as_of (drawn to as_of, labelled ongoing)
    grade: int | None
    source: str | None


@dataclass(frozen=True, slots=True)
class CrsDay:
    day: int
    grade: int
    source: str | None


@dataclass(frozen=True, slots=True)
class Timeline:
    patient_id: str
    as_of: date | None
    day0: date | None
    day: int | None
    first_day: int
    last_day: int
    lineages: tuple[Lineage, ...]
    events: tuple[EventMark, ...]
    crs_bands: tuple[CrsBand, ...]
    crs_days: tuple[CrsDay, ...]


def _shown(r: LabResult) -> str:
    """The value as the lab wrote it: its own number, comparator and unit (the canonical one is drawn)."""
    number = f"{r.original_value:g}"
    unit = r.original_unit or "(no unit)"
    return f"{r.censored or ''}{number} {unit}"


def _point(r: LabResult, day0: date) -> Point:
    day = (r.local_date - day0).days
    return Point(
        day,
        day + (r.time.hour * 60 + r.time.minute) / 1440,
        r.value,
        r.unit,
        _shown(r),
        r.time.isoformat(),
        r.source_id,
        r.censored,
        r.derived,
    )


def _thresholds(view: LineageView, profile: Profile) -> tuple[Threshold, ...]:
    named: dict[float, list[str]] = {}
    for definition, what in (("seed000", "seed 000 severe"), ("seed001", "seed 001 grade ≥ 3")):
        cut = profile.definitions[definition].severe.get(view.lineage)
        if cut is not None:
            named.setdefault(float(cut), []).append(what)
    titles = {rule.thresholds: rule.title for rule in profile.rules}  # the rule's name as its card and page say it
    for section, key in view.intervention:
        cut = profile.thresholds.get(section, {}).get(key)
        if isinstance(cut, int | float):
            named.setdefault(float(cut), []).append(titles.get(section, f"{section}.{key}"))
    return tuple(Threshold(v, f"< {v:g}: " + "; ".join(names)) for v, names in sorted(named.items()))


def build_timeline(assessment: Assessment, profile: Profile) -> Timeline:
    record = assessment.record
    day0 = assessment.infusion_date
    as_of = assessment.as_of
    pid = assessment.patient_id or ""
    if day0 is None:
        return Timeline(pid, as_of, None, None, 0, 0, (), (), (), ())
    lineages = []
    for view in LINEAGE_VIEWS:
        results = [r for r in record.series(view.lineage) if as_of is None or r.local_date <= as_of]
        unit = profile.analytes[view.lineage].dimension
        canonical = profile.dimensions[unit].canonical if unit in profile.dimensions else ""
        lineages.append(
            Lineage(
                view.lineage,
                view.label,
                canonical,
                view.log_scale,
                tuple(_point(r, day0) for r in results),
                _thresholds(view, profile),
            )
        )
    kinds = {kind: (label, letter) for kind, label, letter in EVENT_LANES}
    events = tuple(
        EventMark(
            e.kind,
            kinds[e.kind][0],
            kinds[e.kind][1],
            (e.start - day0).days,
            None if e.end is None else (e.end - day0).days,
            e.start.isoformat() if e.start_time is None else e.start_time.isoformat(),
            e.source_id,
        )
        for e in record.events
        if e.kind in kinds and (as_of is None or e.start <= as_of)
    )
    bands = tuple(
        CrsBand(
            (c.onset - day0).days,
            None if c.abatement is None or (as_of is not None and c.abatement > as_of) else (c.abatement - day0).days,
            c.grade,
            c.source_id,
        )
        for c in record.crs_episodes
        if c.onset is not None and c.onset >= day0 and (as_of is None or c.onset <= as_of)
    )
    crs_days = tuple(
        CrsDay((g.day_date - day0).days, g.grade, g.source_id)
        for g in record.crs_grades
        if as_of is None or g.day_date <= as_of
    )
    days = [p.day for lin in lineages for p in lin.points] + [e.day for e in events] + [0]
    if assessment.day is not None:
        days.append(assessment.day)
    return Timeline(pid, as_of, day0, assessment.day, min(days), max(days), tuple(lineages), events, bands, crs_days)
