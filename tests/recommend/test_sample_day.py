"""A treatment card names the day its value was sampled: a day +9 count assessed on day +10 reads "day +9"."""

from __future__ import annotations

import pytest

from tests.core.harness import run
from tests.support.fhir import infusion, obs, patient


@pytest.mark.parametrize(
    ("resource", "code"),
    [
        (obs("neutrophils", 0.3, "10*9/L", day=9), "gcsf-therapeutic"),
        (obs("hemoglobin", 55, "g/L", day=9), "rbc-transfusion"),
        (obs("platelets", 12, "10*9/L", day=9), "platelet-transfusion"),
    ],
)
@pytest.mark.parametrize("as_of_day", [9, 10, 12])
def test_the_card_names_the_sample_day(resource: dict[str, object], code: str, as_of_day: int) -> None:
    a = run(patient(), infusion(), resource, as_of_day=as_of_day)
    card = next(r for r in a.recommendations if r.code == code)
    assert "(day +9" in card.summary, card.summary
    assert "on day +9" in card.text, card.text
    if as_of_day != 9:
        assert f"day +{as_of_day}" not in card.summary + card.text
