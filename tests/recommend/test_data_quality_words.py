"""The data-quality card says what is wrong with each kind of result, not one sentence about units for all."""

from __future__ import annotations

import pytest

from tests.core.harness import run
from tests.support.fhir import Json, infusion, obs, patient


def _text(*resources: Json) -> str:
    a = run(patient(), infusion(), *resources, as_of_day=5)
    card = next(r for r in a.recommendations if r.code == "data-quality")
    return card.text


def _string_valued(day: int) -> Json:
    res = obs("hemoglobin", 80, "g/L", day=day)
    del res["valueQuantity"]
    res["valueString"] = "haemolysed, repeat"
    return res


@pytest.mark.parametrize(
    ("resource", "said", "not_said"),
    [
        (_string_valued(4), "a value that is not a number", "unit"),
        (obs("hemoglobin", 80, None, day=4), "no unit", "not a number"),
        (obs("hemoglobin", 80, "furlongs", day=4), "a unit that cannot be converted safely", "not a number"),
        (obs("platelets", 90000, "10*9/L", day=4), "a value outside plausible bounds", "not a number"),
    ],
)
def test_the_detail_names_the_kind_of_problem(resource: Json, said: str, not_said: str) -> None:
    text = _text(resource)
    assert said in text
    assert not_said not in text.split("):")[0], text
