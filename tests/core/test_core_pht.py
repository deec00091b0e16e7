"""Prolonged hematological toxicity at day 28 (clinical-reference.md §3).

Seed 000: SN, SA or ST present on day 28, judged on the result closest to day 28 within days 26–30 (the earlier of
two equally close; none → unknown; a window still open → unknown). Seed 001: any lineage still grade ≥ 3 without
recovery by day 28.
"""

from __future__ import annotations

from typing import Any

import pytest

from cds_cyto.core.grading.pht import day28_value
from tests.core.harness import run
from tests.support.fhir import PLATELET_TRANSFUSION, infusion, obs, procedure, series

WINDOW = (26, 30)

DAY28_VALUE = [
    # (points (day, value), as_of day, expected (day, value) or None)
    ([(28, 0.4)], 28, (28, 0.4)),
    ([(28, 0.4), (28, 0.3)], 28, (28, 0.3)),  # documented choice: the lowest of that day
    ([(27, 0.4), (29, 0.6)], 30, (27, 0.4)),  # the earlier of two equally close
    ([(26, 0.4), (30, 0.6)], 30, (26, 0.4)),
    ([(26, 0.4), (29, 0.6)], 30, (29, 0.6)),
    ([(25, 0.4), (31, 0.6)], 40, None),  # nothing in the window → unknown
    ([], 40, None),
    ([(26, 0.4)], 26, None),  # window still open: day 27, 28 or 29 would be closer
    ([(26, 0.4)], 28, None),  # day 29 would still be closer
    ([(26, 0.4)], 29, (26, 0.4)),  # only day 30 is left, and it would tie and lose
    ([(26, 0.4)], 35, (26, 0.4)),
    ([(27, 0.4)], 27, None),  # day 28 could still come
    ([(27, 0.4)], 28, (27, 0.4)),
    ([(29, 0.4)], 29, (29, 0.4)),  # day 28 has passed without a result
    ([(30, 0.4)], 30, (30, 0.4)),
    ([(28, 0.4)], 25, None),  # as_of before the window: the day-28 result is not known yet
]


@pytest.mark.parametrize(("points", "as_of", "expected"), DAY28_VALUE)
def test_day28_value(points: list[tuple[int, float]], as_of: int, expected: tuple[int, float] | None) -> None:
    assert day28_value(points, as_of, 28, WINDOW) == expected


NORMAL = {"neutrophils": 3.0, "hemoglobin": 120.0, "platelets": 150.0}
UNIT = {"neutrophils": "10*9/L", "hemoglobin": "g/L", "platelets": "10*9/L"}

PHT_SEED000 = [
    # (lineage, value on day 28, PHT) — severe is strict "<"
    ("neutrophils", 0.49, True),
    ("neutrophils", 0.5, False),
    ("hemoglobin", 59.9, True),
    ("hemoglobin", 60.0, False),
    ("platelets", 19.9, True),
    ("platelets", 20.0, False),
]


def _day28(values: dict[str, float], day: int = 28) -> list[Any]:
    return [obs(lin, values.get(lin, NORMAL[lin]), UNIT[lin], day=day) for lin in NORMAL]


@pytest.mark.parametrize(("lineage", "value", "pht"), PHT_SEED000)
def test_pht_seed000_boundaries(lineage: str, value: float, pht: bool) -> None:
    a = run(infusion(), _day28({lineage: value}), as_of_day=28)
    assert a.pht_day28["seed000"] is pht


def test_pht_seed000_in_other_units() -> None:
    resources = [
        obs("neutrophils", 490, "/uL", day=28),
        obs("hemoglobin", 12.0, "g/dL", day=28),
        obs("platelets", 150, "K/uL", day=28),
    ]
    assert run(infusion(), resources, as_of_day=30).pht_day28["seed000"] is True


def test_pht_seed000_judged_on_the_closest_result_not_the_lowest() -> None:
    resources = [*_day28({}, 26), *_day28({"platelets": 10.0}, 27), *_day28({}, 29)]
    assert run(infusion(), resources, as_of_day=30).pht_day28["seed000"] is True
    resources = [*_day28({"platelets": 10.0}, 26), *_day28({}, 27), *_day28({}, 29)]
    assert run(infusion(), resources, as_of_day=30).pht_day28["seed000"] is False


def test_pht_seed000_unknown_when_a_lineage_has_no_result_in_the_window() -> None:
    resources = [obs("neutrophils", 3.0, "10*9/L", day=28), obs("platelets", 150, "10*9/L", day=28)]
    assert run(infusion(), resources, as_of_day=35).pht_day28["seed000"] is None


def test_pht_seed000_one_severe_lineage_is_enough_even_if_others_are_unknown() -> None:
    resources = [obs("neutrophils", 0.2, "10*9/L", day=28)]
    assert run(infusion(), resources, as_of_day=35).pht_day28["seed000"] is True


def test_pht_seed000_unknown_while_the_window_is_open() -> None:
    assert run(infusion(), _day28({}, 26), as_of_day=27).pht_day28["seed000"] is None
    assert run(infusion(), _day28({}, 26), as_of_day=29).pht_day28["seed000"] is False
    assert run(infusion(), _day28({}, 20), as_of_day=24).pht_day28["seed000"] is None


# ---------------------------------------------------------------------------------------------------------------
# Seed 001: any lineage still grade ≥ 3 without recovery by day 28
# ---------------------------------------------------------------------------------------------------------------


def _normal_lines(except_: str, days: range = range(0, 30, 7)) -> list[Any]:
    return [obs(lin, NORMAL[lin], UNIT[lin], day=d) for lin in NORMAL if lin != except_ for d in days]


@pytest.mark.parametrize(
    ("anc", "as_of", "pht"),
    [
        ([(3, 0.3), (20, 1.2), (21, 1.2), (22, 1.2)], 30, False),  # recovered on day 20
        ([(3, 0.3), (26, 1.2), (27, 1.2), (28, 1.2)], 30, False),  # recovered on day 26 (the first qualifying day)
        ([(3, 0.3), (27, 1.2), (28, 1.2), (29, 1.2)], 30, False),  # recovery day 27 ≤ 28, confirmed on day 29
        ([(3, 0.3), (29, 1.2), (30, 1.2), (31, 1.2)], 35, True),  # recovery day 29 > 28
        ([(3, 0.3), (25, 0.9)], 30, True),  # still grade ≥ 3
        ([(3, 0.3), (27, 1.2), (29, 1.2)], 29, None),  # a qualifying run began by day 28 and may still complete
        ([(3, 0.3), (27, 1.2), (29, 1.2)], 27, None),  # before day 28: not yet
        ([(3, 1.2), (25, 1.3)], 30, False),  # never grade ≥ 3
        ([(29, 0.3)], 35, None),  # no ANC in days 0–28: unknown
        ([(-2, 0.8), (5, 0.6), (27, 0.7)], 30, True),  # present before infusion and never recovered
        ([(20, 0.99)], 30, True),
        ([(20, 1.0)], 30, False),
    ],
)
def test_pht_seed001(anc: list[tuple[int, float]], as_of: int, pht: bool | None) -> None:
    a = run(infusion(), series("neutrophils", anc, "10*9/L"), _normal_lines("neutrophils"), as_of_day=as_of)
    assert a.pht_day28["seed001"] is pht


def test_pht_seed001_platelets_after_transfusion_not_recovered() -> None:
    plt = series("platelets", [(3, 30.0), *((d, 60.0) for d in range(20, 32))], "10*9/L")
    a = run(infusion(), plt, procedure(PLATELET_TRANSFUSION, 19), _normal_lines("platelets"), as_of_day=35)
    # days 20–26 are within 7 days of the transfusion; recovery is day 27 (≤ 28): no PHT
    assert a.pht_day28["seed001"] is False
    a = run(infusion(), plt, procedure(PLATELET_TRANSFUSION, 22), _normal_lines("platelets"), as_of_day=35)
    assert a.pht_day28["seed001"] is True  # recovery day 30 > 28


def test_pht_json() -> None:
    a = run(infusion(), _day28({"neutrophils": 0.2}), as_of_day=30)
    assert a.to_json()["pht_day28"] == {"seed000": True, "seed001": True}
