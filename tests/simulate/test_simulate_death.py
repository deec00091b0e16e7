"""The generator's early deaths: Patient.deceasedDateTime, nothing charted after it, the record's reader sees it."""

from __future__ import annotations

from datetime import date, timedelta

from cds_cyto.core.extract import extract_record
from cds_cyto.core.extract.deceased import read_deceased
from cds_cyto.core.profile import default_profile
from cds_cyto.simulate import CohortSpec, plan_cohort, simulate_patient
from cds_cyto.simulate.death import EARLY_DEATH


def test_dead_patients_stop_being_charted_and_say_when() -> None:
    spec = CohortSpec(n=120, disease="mixed", seed=4)
    patients = [simulate_patient(p, spec) for p in plan_cohort(spec)]
    dead = [p for p in patients if p.death_day is not None]
    assert 1 <= len(dead) <= 20  # 3/63 of 120: about 6
    for p in dead:
        assert p.death_day is not None
        model = EARLY_DEATH[p.plan.disease]
        assert model.first_day <= p.death_day <= model.last_day
        assert all(c.day <= p.death_day for c in p.charted)
        assert p.truth["death_day"] == p.death_day and p.truth["complete"]
        resources = p.resources()
        died = p.plan.infusion_date + timedelta(days=p.death_day)
        assert resources[0]["deceasedDateTime"] == died.isoformat()
        record = extract_record(resources, default_profile())
        assert record.demographics.deceased is True and record.demographics.death_date == died
    alive = next(p for p in patients if p.death_day is None)
    assert extract_record(alive.resources(), default_profile()).demographics.deceased is None


def test_deceased_reader_boundaries() -> None:
    cases: list[tuple[dict[str, object], tuple[bool | None, date | None]]] = [
        ({}, (None, None)),
        ({"deceasedBoolean": False}, (False, None)),
        ({"deceasedBoolean": True}, (True, None)),
        ({"deceasedDateTime": "2026-06-20"}, (True, date(2026, 6, 20))),
        ({"deceasedDateTime": "2026-06-20T23:30:00-05:00"}, (True, date(2026, 6, 20))),  # the date as written
        ({"deceasedDateTime": "2026-06"}, (True, None)),  # a partial date: died, day unknown
        ({"deceasedDateTime": 5}, (None, None)),
        ({"deceasedBoolean": "yes"}, (None, None)),
    ]
    for patient, expected in cases:
        assert read_deceased(patient) == expected, patient
