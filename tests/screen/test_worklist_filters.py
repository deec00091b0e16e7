"""The worklist page's filters: what each query value keeps (boundary table for the day range) and the 400 that
names the parameter without echoing its value."""

from __future__ import annotations

import pytest

from cds_cyto.screen.worklist_page import FilterError, Filters, parse_filters

CODES = ["gcsf-therapeutic", "data-quality"]


@pytest.mark.parametrize(
    ("day_from", "day_to", "day", "kept"),
    [
        (20, 25, 19, False),
        (20, 25, 20, True),  # both ends inclusive
        (20, 25, 25, True),
        (20, 25, 26, False),
        (20, None, 1000, True),
        (None, 25, -7, True),
        (20, 25, None, False),  # no day (no infusion) is outside any range
        (None, None, None, True),
    ],
)
def test_day_range_is_inclusive(day_from: int | None, day_to: int | None, day: int | None, kept: bool) -> None:
    assert Filters(day_from=day_from, day_to=day_to).keeps_day(day) is kept


def test_values_are_read() -> None:
    f = parse_filters(
        {"recommendation": ["data-quality"], "urgency": ["warning"], "day_from": ["-3"], "day_to": [""]}, CODES
    )
    assert f == Filters("data-quality", "warning", -3, None, "any")
    assert f.query() == "recommendation=data-quality&urgency=warning&day_from=-3"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"urgency": ["<b>loud</b>"]}, "'urgency' must be one of: critical, warning, info"),
        ({"recommendation": ["nope"]}, "'recommendation' must be one of: gcsf-therapeutic, data-quality"),
        ({"day_from": ["twenty"]}, "'day_from' must be a whole number of days"),
        ({"day_to": ["99999"]}, "'day_to' must be between -1000 and 10000"),
        ({"acknowledged": ["maybe"]}, "'acknowledged' must be one of: any, yes, no"),
        ({"urgency": ["info", "warning"]}, "'urgency' may be given once"),
        ({"sort": ["x"]}, "unknown query parameter"),
    ],
)
def test_a_bad_value_names_the_parameter_not_the_value(query: dict[str, list[str]], names: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filters(query, CODES)
    assert names in str(caught.value)
    for values in query.values():
        for v in values:
            assert v not in str(caught.value) or v in names
