"""When things are charted: the sampling schedule of one patient, as in real CAR-T follow-up.

Inpatient weeks are dense (blood counts twice a day, temperature every four hours), outpatient follow-up thins
out (three times a week to day 60, weekly to day 100). Seed 000 (Methods) measured blood counts and serum
markers "at least three times a week" and vital signs daily; seed 001 (Methods) 1-2 times a day.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cds_cyto.simulate.latent import CrsCourse

__all__ = ["CORE_PANEL", "FIRST_DAY", "FULL_PANEL", "LAST_DAY", "LATE_PANEL", "Schedule", "draw_schedule"]

FIRST_DAY = -14
LAST_DAY = 100

FULL_PANEL = ("crp", "ferritin", "il6", "il10", "ifng", "tnfa", "ddimer", "ldh")
CORE_PANEL = ("crp", "ferritin", "il6", "ddimer")
LATE_PANEL = ("crp", "ferritin", "ddimer", "ldh")
_MON, _TUE, _WED, _FRI = 0, 1, 2, 4


def _hm(hour: int, minute: int = 0) -> int:
    return hour * 60 + minute


@dataclass(slots=True)
class Schedule:
    """Draw times as (day relative to infusion, minute of the local day)."""

    cbc: list[tuple[int, int]] = field(default_factory=list)
    markers: list[tuple[int, int, tuple[str, ...]]] = field(default_factory=list)
    temperature: list[tuple[int, int]] = field(default_factory=list)
    crs_grade: list[tuple[int, int]] = field(default_factory=list)
    marrow: list[tuple[int, int]] = field(default_factory=list)


def draw_schedule(
    rng: random.Random,
    *,
    lymphodepletion_start: int,
    infusion_weekday: int,
    crs: CrsCourse,
    marrow_biopsy: bool,
    dense: bool = False,
) -> Schedule:
    """The patient's draw times. `dense` charts about 1,500 Observations (the project's benchmark patient)."""

    def weekday(day: int) -> int:
        return (infusion_weekday + day) % 7

    def jitter(minute: int) -> int:
        return minute + rng.randint(-20, 20)

    s = Schedule()
    pre_days = sorted({-14, -10, -7, *range(lymphodepletion_start - 1, 0)})
    for day in pre_days:
        s.cbc.append((day, jitter(_hm(7, 30))))
    crs_window: set[int] = set()
    if crs.onset_day is not None and crs.recovery_day is not None:
        crs_window = set(range(crs.onset_day - 1, crs.recovery_day + 2))
    for day in range(0, LAST_DAY + 1):
        if dense:
            if day <= 33:
                times = [_hm(6), _hm(14), _hm(22)]
            elif day <= 60:
                times = [_hm(8, 30)]
            else:
                times = [_hm(9)] if weekday(day) in (_MON, _WED, _FRI) else []
        elif day <= 21:
            times = [_hm(6, 30), _hm(18, 30)]
        elif day <= 30:
            times = [_hm(7)]
        elif day <= 60:
            times = [_hm(8, 30)] if weekday(day) in (_MON, _WED, _FRI) else []
        else:
            times = [_hm(9)] if weekday(day) == _TUE else []
        s.cbc.extend((day, jitter(t)) for t in times)

    for day in sorted({-14, -7, lymphodepletion_start, -1}):
        s.markers.append((day, jitter(_hm(7, 30)), FULL_PANEL))
    for day in range(0, LAST_DAY + 1):
        mwf = weekday(day) in (_MON, _WED, _FRI)
        if (day <= 30 and (mwf or day in crs_window)) or (dense and day <= 35):
            s.markers.append((day, jitter(_hm(6, 30)), FULL_PANEL))
        elif day <= 14:
            s.markers.append((day, jitter(_hm(6, 30)), CORE_PANEL))
        elif day > 30 and weekday(day) == _TUE:
            s.markers.append((day, jitter(_hm(9)), LATE_PANEL))

    every_4h = [_hm(h) for h in (2, 6, 10, 14, 18, 22)]
    for day in range(lymphodepletion_start, 0):
        s.temperature.extend((day, t) for t in (every_4h if dense else [_hm(8)]))
    for day in range(0, 31 if dense else 22):
        times = every_4h if dense or day <= 14 else [_hm(8), _hm(20)]
        s.temperature.extend((day, t + rng.randint(-10, 10)) for t in times)

    if crs.onset_day is not None and crs.recovery_day is not None:
        s.crs_grade.extend((day, _hm(9)) for day in range(crs.onset_day, crs.recovery_day))
    if marrow_biopsy:
        s.marrow.append((-12, _hm(10)))
    return s
