"""Who is in the cohort and when: the specification of a run and each patient's plan (id, disease, dates).

Infusion dates start at the anchor and spread over the following months. With a data cut, the last
`mid_course` patients (default: one in eight) are infused 3-25 days before the cut, so they are mid-course; the
others are spread so that they have reached day +100 by the cut when the dates allow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from cds_cyto.simulate.mess import MessLevel
from cds_cyto.simulate.params import Disease
from cds_cyto.simulate.rng import PatientRandom
from cds_cyto.simulate.schedule import LAST_DAY

__all__ = ["DEFAULT_ANCHOR", "CohortSpec", "DiseaseChoice", "PatientPlan", "patient_rng", "plan_cohort"]

DiseaseChoice = Literal["all", "nhl", "mixed"]
DEFAULT_ANCHOR = date(2026, 6, 1)
# Sites in several time zones, so the "calendar date in the result's own offset" rule matters.
_UTC_OFFSETS = ("+01:00", "+02:00", "+08:00", "-05:00", "-08:00")
_MID_COURSE_DAYS = (3, 25)


@dataclass(frozen=True, slots=True)
class CohortSpec:
    n: int
    disease: DiseaseChoice = "mixed"
    seed: int = 20261122
    anchor: date = DEFAULT_ANCHOR
    data_cut: date | None = None
    mess: MessLevel = "none"
    dense: bool = False
    mid_course: int | None = None  # patients mid-course at the data cut; None = n // 8 when there is a cut
    span_days: int = 180  # infusions spread over this many days after the anchor
    early_death: bool = True  # some patients die before day +28 (simulate/death.py); off for the committed fixture


@dataclass(frozen=True, slots=True)
class PatientPlan:
    index: int
    patient_id: str
    disease: Disease
    infusion_date: date
    utc_offset: str

    @property
    def infusion_weekday(self) -> int:
        return self.infusion_date.weekday()


def patient_rng(seed: int, index: int, stream: str) -> PatientRandom:
    """An independent, reproducible stream per patient and purpose (latent, schedule, course, mess)."""
    return PatientRandom(f"cds-cyto/simulate:{seed}:{index}:{stream}")


def _disease(spec: CohortSpec, index: int) -> Disease:
    if spec.disease == "mixed":
        return "all" if index % 2 == 0 else "nhl"
    return spec.disease


def _infusion_offsets(spec: CohortSpec) -> list[int]:
    n = spec.n
    if spec.data_cut is None:
        return [i * spec.span_days // max(1, n) for i in range(n)]
    horizon = (spec.data_cut - spec.anchor).days
    mid = spec.mid_course if spec.mid_course is not None else n // 8
    mid = min(mid, n)
    complete = n - mid
    last_complete = min(spec.span_days, horizon - LAST_DAY)
    if last_complete < 0:  # the cut is too early for anyone to finish: spread over what there is
        last_complete = max(0, horizon - _MID_COURSE_DAYS[1])
    offsets = [i * last_complete // max(1, complete) for i in range(complete)]
    lo, hi = _MID_COURSE_DAYS
    for j in range(mid):
        days_before_cut = hi - (j * (hi - lo)) // max(1, mid - 1) if mid > 1 else (lo + hi) // 2
        offsets.append(max(0, horizon - days_before_cut))
    return offsets


def plan_cohort(spec: CohortSpec) -> list[PatientPlan]:
    if spec.n < 1:
        raise ValueError("a cohort needs at least one patient")
    width = max(4, len(str(spec.n - 1)))
    plans = []
    for index, offset in enumerate(_infusion_offsets(spec)):
        disease = _disease(spec, index)
        rng = patient_rng(spec.seed, index, "plan")
        plans.append(
            PatientPlan(
                index=index,
                patient_id=f"syn-{disease}-{index:0{width}d}",
                disease=disease,
                infusion_date=spec.anchor + timedelta(days=offset),
                utc_offset=rng.choice(_UTC_OFFSETS),
            )
        )
    return plans
