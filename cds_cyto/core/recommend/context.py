"""What the cards know was already done, and the situation they are read in (clinical-reference.md §8):

- the current G-CSF course, named from its first dose with the number of doses;
- a transfusion of the card's product given after the triggering count (or just before it);
- active CRS (grade, since when), shown on the G-CSF cards;
- the escalation to at least `warning`: active CRS ≥ grade 3 with severe neutropenia, or severe neutropenia after
  day 21, on a fresh result.

Pure; every number from thresholds.toml through the profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.extract.record import EventKind, LabResult, PatientRecord, TherapyEvent
from cds_cyto.core.grading.interval import below
from cds_cyto.core.profile import Profile
from cds_cyto.core.recommend.evidence import day_text, fresh, value_text

__all__ = [
    "GcsfCourse",
    "active_crs_text",
    "escalation",
    "gcsf_course",
    "transfusion_given",
    "transfusion_text",
]

# The card's product, and the kinds of event that give it (an unspecified product counts for both).
PRODUCT_KINDS: dict[str, tuple[EventKind, ...]] = {
    "rbc-transfusion": ("rbc_transfusion", "blood_product_transfusion"),
    "platelet-transfusion": ("platelet_transfusion", "blood_product_transfusion"),
}
_PRODUCT_WORDS = {
    "rbc_transfusion": "red cells",
    "platelet_transfusion": "platelets",
    "blood_product_transfusion": "a blood product (unspecified)",
}


@dataclass(frozen=True, slots=True)
class GcsfCourse:
    doses: tuple[TherapyEvent, ...]  # oldest first

    @property
    def first(self) -> TherapyEvent:
        return self.doses[0]

    @property
    def last(self) -> TherapyEvent:
        return self.doses[-1]

    def short(self, day0: date | None, names: Mapping[str, str]) -> str:
        """ "filgrastim since day +6, 4 doses" (for a summary)."""
        drugs = " / ".join(dict.fromkeys(names.get(e.code, "G-CSF") for e in self.doses))
        if len(self.doses) == 1:
            return f"{drugs} on {_when(self.first.start, day0)}, 1 dose"
        return f"{drugs} since {_when(self.first.start, day0)}, {len(self.doses)} doses"

    def text(self, day0: date | None, names: Mapping[str, str], *, ended: bool = False) -> str:
        """ "on filgrastim since day +6, 4 doses (last day +9)"; `ended`: "filgrastim from day +6 to day +9, 4
        doses" (a course no longer running must not read as ongoing)."""
        drugs = list(dict.fromkeys(names.get(e.code, "G-CSF") for e in self.doses))
        n = len(self.doses)
        if n == 1:
            return f"{' / '.join(drugs)} given on {_when(self.first.start, day0)} (1 dose)"
        if ended:
            last = _when(self.last.end or self.last.start, day0)
            return f"{' / '.join(drugs)} from {_when(self.first.start, day0)} to {last}, {n} doses"
        return (
            f"on {' / '.join(drugs)} since {_when(self.first.start, day0)}, {n} doses "
            f"(last {_when(self.last.end or self.last.start, day0)})"
        )


def _when(d: date, day0: date | None) -> str:
    return d.isoformat() if day0 is None else day_text((d - day0).days)


def gcsf_course(record: PatientRecord, as_of: date, gap_days: int) -> GcsfCourse | None:
    """The doses of the latest course on or before `as_of`: back from the latest dose, each dose at most `gap_days`
    after the one before it (thresholds gcsf_recent.course_gap_days)."""
    doses = sorted(
        (e for e in record.events_of("gcsf") if e.start <= as_of), key=lambda e: (e.start, e.source_id or "")
    )
    if not doses:
        return None
    course = [doses[-1]]
    for e in reversed(doses[:-1]):
        if (course[0].start - (e.end or e.start)).days > gap_days:
            break
        course.insert(0, e)
    return GcsfCourse(tuple(course))


def transfusion_given(
    record: PatientRecord, code: str, count: LabResult, as_of: date, lookback_hours: float
) -> TherapyEvent | None:
    """The first transfusion of the card's product after `count` (or started at most `lookback_hours` before it),
    on or before `as_of`; None when there is none (thresholds transfusion_given)."""
    kinds = PRODUCT_KINDS.get(code, ())
    since = count.time - timedelta(hours=lookback_hours)
    found = []
    for e in record.events_of(*kinds):
        if e.start > as_of:
            continue
        if e.start_time is not None:
            if e.start_time >= since:
                found.append(e)
        elif e.start >= count.local_date:  # a date only: the order within the day is unknown
            found.append(e)
    return min(found, key=lambda e: (e.start, e.source_id or "")) if found else None


def transfusion_text(e: TherapyEvent, count: LabResult, label: str) -> str:
    """ "red cells given 10:00, after the 06:00 Hb" (with the date when the days differ)."""
    product = _PRODUCT_WORDS.get(e.kind, "a transfusion")
    clock = count.time.strftime("%H:%M")
    if e.start_time is None:
        when = f"on {e.start.isoformat()}"
        order = "the day of" if e.start == count.local_date else "after"
        return f"{product} given {when}, {order} the {clock} {label}"
    t = e.start_time.astimezone(count.time.tzinfo)
    given = t.strftime("%H:%M") if t.date() == count.time.date() else t.strftime("%Y-%m-%d %H:%M")
    order = "after" if e.start_time >= count.time else "just before"
    return f"{product} given {given}, {order} the {clock} {label}"


def current_crs_grade(a: Assessment) -> tuple[int | None, int | None]:
    """(grade, day) of the CRS today: where a site charts daily grades, the latest charted grade on or before
    as_of (clinical-reference §6: grades by day come from the charted grades), else the recorded grade with no day.
    The peak is not today's grade: a grade 3 on day +5 followed by grade 1 is grade 1 now."""
    if a.risk is None or a.as_of is None:
        return None, None
    readings = [g for g in a.record.crs_grades if g.day_date <= a.as_of]
    if readings and a.infusion_date is not None:
        latest = max(readings, key=lambda g: (g.day_date, g.grade))
        return latest.grade, (latest.day_date - a.infusion_date).days
    return a.risk.crs.max_grade, None


def _crs_course(a: Assessment) -> str | None:
    """ "CRS since day +4 (reached grade 3 on day +7)" for CRS recorded and not recovered, with today's charted
    grade when it is below the peak; None otherwise."""
    if a.risk is None or not a.risk.crs.ongoing:
        return None
    crs = a.risk.crs
    if crs.max_grade is None:
        return f"CRS (grade not stated) since {day_text(crs.onset_day)}"
    grade, on = current_crs_grade(a)
    now = ""
    if grade is not None and on is not None and grade != crs.max_grade:
        now = f"; grade {grade} charted on {day_text(on)}"
    if crs.peak_day is None or crs.peak_day == crs.onset_day:
        if now:
            return f"CRS since {day_text(crs.onset_day)} (grade {crs.max_grade} at onset{now})"
        return f"grade {crs.max_grade} CRS since {day_text(crs.onset_day)}"
    return f"CRS since {day_text(crs.onset_day)} (reached grade {crs.max_grade} on {day_text(crs.peak_day)}{now})"


def active_crs_text(a: Assessment) -> str | None:
    """ "active CRS since day +4 (reached grade 3 on day +7), not recovered"; None when CRS is not active."""
    course = _crs_course(a)
    return None if course is None else f"active {course}, not recovered"


def escalation(a: Assessment, profile: Profile) -> str | None:
    """Why a G-CSF or extended-monitoring card is at least a warning, or None: active CRS ≥ grade N with severe
    neutropenia, or severe neutropenia after day M, both on a fresh ANC (thresholds urgency, freshness)."""
    t: dict[str, Any] = profile.thresholds
    if a.as_of is None or a.day is None or a.day < 0 or a.infusion_date is None:
        return None
    la = a.lineages.get("neutrophils")
    anc = fresh(la.latest if la is not None else None, a.as_of, int(t["freshness"]["max_age_days"]))
    sn = profile.definitions["seed000"].severe["neutrophils"]
    if anc is None or not below(anc, sn):
        return None
    anc_day = (anc.local_date - a.infusion_date).days
    rule = t["urgency"]
    crs = a.risk.crs if a.risk is not None else None
    grade, _ = current_crs_grade(a)  # today's grade, not the peak
    if crs is not None and crs.ongoing and grade is not None and grade >= int(rule["crs_grade_at_least"]):
        return f"{active_crs_text(a)}, with severe neutropenia (ANC {value_text(anc)} on {day_text(anc_day)})"
    after = int(rule["neutropenia_after_day"])
    if anc_day > after:
        return f"severe neutropenia after day {after} (ANC {value_text(anc)} on {day_text(anc_day)})"
    return None
