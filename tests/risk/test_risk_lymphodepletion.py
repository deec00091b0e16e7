"""Which doses are the lymphodepletion, and which results on its first day are baseline (clinical-reference.md §5,
§9): LD start = the first fludarabine or cyclophosphamide dose in the 14 days before infusion (earlier doses are
bridging or prior therapy); a result drawn on the LD day counts when drawn before the first dose, and with dates
only a same-day result counts."""

from __future__ import annotations

import pytest

from cds_cyto.core.profile import default_profile, load_profile
from tests.risk.risk_fhir import CYCLOPHOSPHAMIDE, FLUDARABINE, baseline_labs, infusion, med, obs, record_of, risk_of
from tests.support.fhir import day_date

WITHIN = 14  # written from §9, not read from risk.toml


def test_the_window_is_data_with_its_source() -> None:
    data = default_profile().risk
    assert data.ld_within_days == WITHIN and "§9" in data.ld_within_source
    assert load_profile(site={"risk": {"baseline": {"ld_within_days_before_infusion": 21}}}).risk.ld_within_days == 21


@pytest.mark.parametrize(
    ("day", "is_ld"),
    [(-15, False), (-14, True), (-13, True), (-1, True), (0, False), (2, False)],
)
def test_only_doses_in_the_14_days_before_infusion_are_lymphodepletion(day: int, is_ld: bool) -> None:
    record = record_of(infusion(), med(CYCLOPHOSPHAMIDE, day))
    assert record.lymphodepletion_start(WITHIN) == (day_date(day) if is_ld else None)


def test_bridging_cyclophosphamide_does_not_move_the_window() -> None:
    # the reported problem: cyclophosphamide on day −25 (bridging), fludarabine/cyclophosphamide from day −5, a full
    # panel on day −7. The window is LD−10 … LD (days −15 … −5), so the panel is the baseline, not "missing".
    risk = risk_of(
        infusion(),
        med(CYCLOPHOSPHAMIDE, -25),
        med(FLUDARABINE, -5),
        med(CYCLOPHOSPHAMIDE, -5),
        med(FLUDARABINE, -4),
        baseline_labs(-7, plt=50.0),
        as_of_day=0,
    )
    h = risk.hematotox
    assert h.window is not None and (h.window.first, h.window.last) == (day_date(-15), day_date(-5))
    assert h.complete and h.score == 2 and h.missing == ()


def test_only_bridging_doses_fall_back_to_the_infusion_window() -> None:
    risk = risk_of(infusion(), med(CYCLOPHOSPHAMIDE, -25), baseline_labs(-7), as_of_day=0)
    assert risk.hematotox.window is not None and risk.hematotox.window.anchor == "infusion"
    assert risk.hematotox.complete


def test_without_an_infusion_the_latest_run_of_doses_is_lymphodepletion() -> None:
    # assessed during lymphodepletion, before any infusion is charted: the bridging dose is still not LD start
    record = record_of(med(CYCLOPHOSPHAMIDE, -25), med(FLUDARABINE, -5), med(FLUDARABINE, -4))
    assert record.lymphodepletion_start(WITHIN) == day_date(-5)


LD = -5


@pytest.mark.parametrize(
    ("dose_time", "result_time", "used"),
    [
        ("09:00:00", "08:59:00", True),  # drawn before the first dose
        ("09:00:00", "09:00:00", False),  # at the dose: not before it
        ("09:00:00", "09:01:00", False),  # after the first dose
        ("09:00:00", "18:00:00", False),
        (None, "18:00:00", True),  # the dose has a date only: a same-day result counts
        ("09:00:00", None, True),  # the result has a date only: counts
        (None, None, True),
    ],
)
def test_a_result_on_the_first_lymphodepletion_day(dose_time: str | None, result_time: str | None, used: bool) -> None:
    panel = obs("platelets", 50.0, LD) if result_time is not None else _date_only_platelets(LD)
    if result_time is not None:
        panel["effectiveDateTime"] = f"{day_date(LD).isoformat()}T{result_time}Z"
    risk = risk_of(infusion(), med(FLUDARABINE, LD, time=dose_time), panel, as_of_day=0)
    assert (risk.hematotox.component("platelets").points == 2) is used


def test_the_first_dose_of_the_day_decides() -> None:
    # fludarabine 11:00 and cyclophosphamide 07:00 on the LD day: a 08:00 result follows the first dose
    risk = risk_of(
        infusion(),
        med(FLUDARABINE, LD, time="11:00:00"),
        med(CYCLOPHOSPHAMIDE, LD, time="07:00:00"),
        obs("platelets", 50.0, LD, time="08:00:00"),
        as_of_day=0,
    )
    assert risk.hematotox.component("platelets").points is None
    window = risk.hematotox.window
    assert window is not None and window.to_json()["last_day_before"] == f"{day_date(LD).isoformat()}T07:00:00+00:00"


def test_the_dose_instant_is_compared_across_offsets() -> None:
    # the dose 09:00+02:00 is 07:00Z; a result at 08:00Z on the same written date follows it
    dose = med(FLUDARABINE, LD)
    dose["effectiveDateTime"] = f"{day_date(LD).isoformat()}T09:00:00+02:00"
    risk = risk_of(infusion(), dose, obs("platelets", 50.0, LD, time="08:00:00"), as_of_day=0)
    assert risk.hematotox.component("platelets").points is None


def test_the_dose_time_is_kept_on_the_event() -> None:
    timed = record_of(med(FLUDARABINE, LD)).events[0]
    dated = record_of(med(FLUDARABINE, LD, time=None)).events[0]
    assert timed.start_time is not None and timed.start_time.isoformat() == f"{day_date(LD).isoformat()}T09:00:00+00:00"
    assert dated.start_time is None and dated.start == day_date(LD)


def _date_only_platelets(day: int) -> dict[str, object]:
    res = obs("platelets", 50.0, day)
    res["effectiveDateTime"] = day_date(day).isoformat()
    return res
