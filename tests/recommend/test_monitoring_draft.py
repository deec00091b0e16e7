"""The extended-monitoring draft schedules counts for the days beyond day 28 (clinical-reference §8), to day +100:
accepted on day +9, it must not read as "twice weekly from now" in place of the first weeks' closer counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_cyto.cds.drafts import draft_for
from cds_cyto.core.profile import default_profile
from tests.core.harness import run
from tests.support.fhir import DAY0, baseline_panel, infusion, patient


@pytest.mark.parametrize("as_of_day", [2, 9, 28])
def test_the_schedule_starts_after_day_28_and_ends_on_day_100(as_of_day: int) -> None:
    a = run(patient(), infusion(), baseline_panel(plt=100.0, anc=1.0), as_of_day=as_of_day)  # high CAR-HEMATOTOX
    rec = next(r for r in a.recommendations if r.code == "extended-monitoring")
    drafted = draft_for(rec, a, default_profile())
    assert drafted is not None
    _, resource = drafted
    ServiceRequest.model_validate(resource)
    bounds = resource["occurrenceTiming"]["repeat"]["boundsPeriod"]
    assert bounds == {
        "start": (DAY0 + timedelta(days=29)).isoformat(),
        "end": (DAY0 + timedelta(days=100)).isoformat(),
    }
