"""The rules that protect patients (clinical-reference.md §1) and day numbering, through extract → evaluate."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from tests.core.harness import problem_codes, run
from tests.support.fhir import DAY0, UCUM, at, bundle, day_date, infusion, obs, patient, qty, series

# ---------------------------------------------------------------------------------------------------------------
# Values that are not numbers
# ---------------------------------------------------------------------------------------------------------------


def _with_value(**value: Any) -> dict[str, Any]:
    res = obs("neutrophils", 0.0, "10*9/L", day=3)
    del res["valueQuantity"]
    res.update(value)
    return res


@pytest.mark.parametrize(
    ("resource", "code"),
    [
        (_with_value(valueString="<0.1"), "non-numeric"),  # no documented rule parses text values: never graded
        (_with_value(valueString="0.4"), "non-numeric"),
        (_with_value(valueCodeableConcept={"text": "low"}), "non-numeric"),
        (_with_value(dataAbsentReason={"coding": [{"code": "not-performed"}]}), "value-absent"),
        (_with_value(), "no-value"),
        (_with_value(valueQuantity={"value": "0.4", "unit": "10*9/L"}), "non-numeric"),
        (_with_value(valueQuantity={"value": True, "unit": "10*9/L"}), "non-numeric"),
        (_with_value(valueQuantity={"value": None, "unit": "10*9/L"}), "non-numeric"),
        (_with_value(valueQuantity={"unit": "10*9/L", "system": UCUM, "code": "10*9/L"}), "non-numeric"),
        (_with_value(valueQuantity="0.4 x10^9/L"), "non-numeric"),
    ],
)
def test_non_numeric_values_are_problems_never_grades(resource: dict[str, Any], code: str) -> None:
    a = run(infusion(), resource)
    assert code in problem_codes(a)
    assert a.lineages["neutrophils"].latest is None
    assert a.lineages["neutrophils"].ctcae == {"4.03": None, "5.0": None, "6.0": None}
    assert a.lineages["neutrophils"].severe is None


# ---------------------------------------------------------------------------------------------------------------
# Plausibility bounds (after conversion): outside them is a data problem, usually a unit error
# ---------------------------------------------------------------------------------------------------------------

PLAUSIBILITY = [
    # analyte, value, unit, used?
    ("hemoglobin", 29.99, "g/L", False),  # floor 30 g/L: a g/dL value labelled g/L reads as 3–20 g/L
    ("hemoglobin", 11.2, "g/L", False),
    ("hemoglobin", 30.0, "g/L", True),
    ("hemoglobin", 250.0, "g/L", True),
    ("hemoglobin", 250.01, "g/L", False),
    ("hemoglobin", 2.99, "g/dL", False),
    ("hemoglobin", 3.0, "g/dL", True),
    ("hemoglobin", 25.0, "g/dL", True),
    ("hemoglobin", 25.1, "g/dL", False),
    ("hemoglobin", 95.0, "g/dL", False),  # g/L value sent as g/dL: 950 g/L
    ("hemoglobin_mmol", 1.86, "mmol/L", False),  # 29.97 g/L
    ("hemoglobin_mmol", 1.862, "mmol/L", True),  # 30.003 g/L
    ("hemoglobin_mmol", 15.5, "mmol/L", True),  # 249.76 g/L
    ("hemoglobin_mmol", 15.6, "mmol/L", False),  # 251.37 g/L
    ("neutrophils", -0.01, "10*9/L", False),
    ("neutrophils", 0.0, "10*9/L", True),
    ("neutrophils", 200.0, "10*9/L", True),
    ("neutrophils", 200.01, "10*9/L", False),
    ("neutrophils", 200000, "/uL", True),
    ("neutrophils", 200001, "/uL", False),
    ("neutrophils", 1500, "10*9/L", False),  # a /uL value sent as ×10⁹/L
    ("platelets", 5000, "10*9/L", True),
    ("platelets", 5001, "10*9/L", False),
    ("platelets", 45000, "10*9/L", False),
    ("temperature", 24.9, "Cel", False),
    ("temperature", 45.1, "Cel", False),
]


@pytest.mark.parametrize(("analyte", "value", "unit", "used"), PLAUSIBILITY)
def test_plausibility_bounds(analyte: str, value: float, unit: str, used: bool) -> None:
    record = extract_record(bundle(infusion(), obs(analyte, value, unit, day=2)))
    name = {"hemoglobin_mmol": "hemoglobin"}.get(analyte, analyte)
    assert bool(record.series(name)) is used
    assert ("implausible" in [p.code for p in record.problems]) is not used


def test_implausible_value_is_never_graded() -> None:
    a = run(infusion(), obs("hemoglobin", 95.0, "g/dL", day=2))
    assert a.lineages["hemoglobin"].latest is None
    assert a.lineages["hemoglobin"].ctcae["5.0"] is None
    problem = next(p for p in a.data_problems if p.code == "implausible")
    assert problem.severity == "warning"
    assert "unit" in problem.reason
    assert "if the unit is" not in problem.reason  # 950 g/L is implausible in g/dL too: no hint


@pytest.mark.parametrize(
    ("value", "unit", "hint"),
    [
        (11.2, "g/L", "; if the unit is g/dL this is 112 g/L — verify"),
        (2.9, "g/L", ""),  # 29 g/L in g/dL is still implausible: no hint
        (26.0, "g/L", ""),  # 260 g/L: above 250 in g/dL too, no hint
    ],
)
def test_an_implausible_hemoglobin_says_what_it_is_in_g_dl(value: float, unit: str, hint: str) -> None:
    a = run(infusion(), obs("hemoglobin", value, unit, day=2))
    problem = next(p for p in a.data_problems if p.code == "implausible")
    assert problem.reason.startswith(f"Hemoglobin {value:g} g/L is implausible{hint} (outside 30–250 g/L")
    assert problem.analyte == "hemoglobin"


# ---------------------------------------------------------------------------------------------------------------
# Status: entered-in-error / cancelled / registered ignored; amended / corrected supersede; duplicates once
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "registered"])
def test_excluded_statuses_are_ignored(status: str) -> None:
    a = run(
        infusion(),
        obs("neutrophils", 1.2, "10*9/L", day=3, id="good"),
        obs("neutrophils", 0.05, "10*9/L", day=4, id="bad", status=status),
    )
    assert a.lineages["neutrophils"].latest is not None
    assert a.lineages["neutrophils"].latest.value == 1.2
    assert a.lineages["neutrophils"].nadir is not None and a.lineages["neutrophils"].nadir[0] == 1.2
    problem = next(p for p in a.data_problems if p.resource == "Observation/bad")
    assert (problem.code, problem.severity) == ("status-excluded", "info")


@pytest.mark.parametrize("status", ["final", "preliminary", "amended", "corrected"])
def test_used_statuses(status: str) -> None:
    a = run(infusion(), obs("neutrophils", 0.3, "10*9/L", day=3, status=status))
    assert a.lineages["neutrophils"].latest is not None


@pytest.mark.parametrize("status", ["amended", "corrected"])
@pytest.mark.parametrize("amended_first", [True, False])
def test_amended_or_corrected_supersedes_final(status: str, amended_first: bool) -> None:
    final = obs("neutrophils", 0.3, "10*9/L", when=at(5), id="orig")
    fix = obs("neutrophils", 0.7, "10*9/L", when=at(5), id="fix", status=status)
    a = run(infusion(), *([fix, final] if amended_first else [final, fix]))
    values = [r.value for r in a.record.series("neutrophils")]
    assert values == [0.7]
    assert a.lineages["neutrophils"].ctcae["5.0"] == 3
    assert a.lineages["neutrophils"].severe is False
    problem = next(p for p in a.data_problems if p.resource == "Observation/orig")
    assert problem.code == "superseded"


def test_supersession_compares_instants_not_spellings() -> None:
    """08:00Z and 03:00−05:00 are the same specimen time."""
    final = obs("neutrophils", 0.3, "10*9/L", when=f"{day_date(5)}T08:00:00Z", id="orig")
    fix = obs("neutrophils", 0.7, "10*9/L", when=f"{day_date(5)}T03:00:00-05:00", id="fix", status="amended")
    a = run(infusion(), final, fix)
    assert [r.value for r in a.record.series("neutrophils")] == [0.7]


def test_final_supersedes_preliminary_at_the_same_time() -> None:
    """Engine choice (extract/observations.py STATUS_RANK): amended/corrected > final > other statuses."""
    a = run(
        infusion(),
        obs("platelets", 15, "10*9/L", when=at(5), status="preliminary"),
        obs("platelets", 25, "10*9/L", when=at(5)),
    )
    assert [r.value for r in a.record.series("platelets")] == [25]


def test_amendment_at_another_time_does_not_supersede() -> None:
    """Supersession is per specimen time: a result at another time is another result."""
    a = run(
        infusion(),
        obs("neutrophils", 0.3, "10*9/L", when=at(5, "08:00:00")),
        obs("neutrophils", 0.7, "10*9/L", when=at(5, "09:00:00"), status="amended"),
    )
    assert [r.value for r in a.record.series("neutrophils")] == [0.3, 0.7]


def test_duplicates_count_once() -> None:
    a = run(
        infusion(),
        obs("neutrophils", 0.4, "10*9/L", when=at(5), id="a"),
        obs("neutrophils", 0.4, "10*9/L", when=at(5), id="b"),
        obs("neutrophils", 400, "/uL", when=at(5), id="c"),  # the same value in another unit
    )
    assert [r.value for r in a.record.series("neutrophils")] == [0.4]
    assert problem_codes(a).count("duplicate") == 2


def test_the_same_resource_twice_counts_once() -> None:
    same = obs("neutrophils", 0.4, "10*9/L", day=5, id="twice")
    a = run(infusion(), same, dict(same))
    assert len(a.record.series("neutrophils")) == 1
    assert "duplicate" in problem_codes(a)


def test_same_time_different_values_are_both_kept() -> None:
    """Not duplicates (values differ) and neither supersedes: both are kept; the day counts its lowest."""
    a = run(
        infusion(),
        obs("neutrophils", 0.4, "10*9/L", when=at(5)),
        obs("neutrophils", 0.6, "10*9/L", when=at(5)),
    )
    assert sorted(r.value for r in a.record.series("neutrophils")) == [0.4, 0.6]
    assert a.lineages["neutrophils"].nadir is not None and a.lineages["neutrophils"].nadir[0] == 0.4


def test_same_value_at_different_times_is_not_a_duplicate() -> None:
    a = run(
        infusion(),
        obs("neutrophils", 0.4, "10*9/L", when=at(5, "08:00:00")),
        obs("neutrophils", 0.4, "10*9/L", when=at(5, "20:00:00")),
    )
    assert len(a.record.series("neutrophils")) == 2


# ---------------------------------------------------------------------------------------------------------------
# Comparator: kept, marked censored, graded as an interval (clinical-reference §1)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparator", "v6", "v6_exact"),
    [("<", 4, True), ("<=", 3, False)],  # "<0.1" is v6 grade 4 (< 0.1); "<=0.1" may be 0.1 itself, grade 3: "≥ 3"
)
def test_comparator_is_kept_and_graded_as_an_interval(comparator: str, v6: int, v6_exact: bool) -> None:
    a = run(infusion(), obs("neutrophils", 0.1, "10*9/L", day=5, comparator=comparator))
    la = a.lineages["neutrophils"]
    assert la.latest is not None
    assert (la.latest.value, la.latest.censored) == (0.1, comparator)
    assert la.ctcae == {"4.03": 4, "5.0": 4, "6.0": v6}
    assert la.ctcae_exact == {"4.03": True, "5.0": True, "6.0": v6_exact}
    assert a.to_json()["lineages"]["neutrophils"]["latest"]["censored"] == comparator


def test_censored_value_in_another_unit() -> None:
    a = run(infusion(), obs("neutrophils", 100, "/uL", day=5, comparator="<"))
    latest = a.lineages["neutrophils"].latest
    assert latest is not None and (latest.value, latest.censored) == (0.1, "<")


def test_unknown_comparator_is_not_censored() -> None:
    a = run(infusion(), obs("neutrophils", 0.1, "10*9/L", day=5, comparator="~"))
    latest = a.lineages["neutrophils"].latest
    assert latest is not None and latest.censored is None


def test_uncensored_result_has_no_censored_key() -> None:
    a = run(infusion(), obs("neutrophils", 0.1, "10*9/L", day=5))
    assert "censored" not in a.to_json()["lineages"]["neutrophils"]["latest"]


# ---------------------------------------------------------------------------------------------------------------
# ANC derived from WBC × neutrophils % at the same time, only when no absolute count exists there
# ---------------------------------------------------------------------------------------------------------------


def test_derived_anc() -> None:
    a = run(
        infusion(),
        obs("leukocytes", 2.0, "10*9/L", when=at(5), id="wbc"),
        obs("neutrophils_pct", 20.0, "%", when=at(5), id="pct"),
    )
    latest = a.lineages["neutrophils"].latest
    assert latest is not None
    assert latest.value == pytest.approx(0.4)
    assert latest.derived is True
    assert latest.note is not None and "derived" in latest.note
    assert a.lineages["neutrophils"].severe is True
    out = a.to_json()["lineages"]["neutrophils"]["latest"]
    assert out["derived"] is True and out["source"] == "Observation/wbc+Observation/pct"


def test_absolute_count_wins_at_the_same_time() -> None:
    a = run(
        infusion(),
        obs("neutrophils", 0.9, "10*9/L", when=at(5)),
        obs("leukocytes", 2.0, "10*9/L", when=at(5)),
        obs("neutrophils_pct", 20.0, "%", when=at(5)),
    )
    assert [(r.value, r.derived) for r in a.record.series("neutrophils")] == [(0.9, False)]


def test_derivation_happens_only_at_times_without_an_absolute_count() -> None:
    """Documented choice (extract/labs.py): "no absolute count" is judged per specimen time."""
    a = run(
        infusion(),
        obs("neutrophils", 0.9, "10*9/L", when=at(4)),
        obs("leukocytes", 2.0, "10*9/L", when=at(5)),
        obs("neutrophils_pct", 20.0, "%", when=at(5)),
    )
    assert [(r.value, r.derived) for r in a.record.series("neutrophils")] == [(0.9, False), (pytest.approx(0.4), True)]


def test_no_derivation_across_specimen_times() -> None:
    a = run(
        infusion(),
        obs("leukocytes", 2.0, "10*9/L", when=at(5, "08:00:00")),
        obs("neutrophils_pct", 20.0, "%", when=at(5, "08:01:00")),
    )
    assert a.record.series("neutrophils") == []


def test_derivation_converts_wbc_first() -> None:
    a = run(
        infusion(),
        obs("leukocytes", 2500, "/uL", when=at(5)),
        obs("neutrophils_pct", 20.0, "%", when=at(5)),
    )
    assert [r.value for r in a.record.series("neutrophils")] == [pytest.approx(0.5)]
    assert a.lineages["neutrophils"].severe is False  # 0.5 is not < 0.5


def test_no_derivation_from_an_excluded_percentage() -> None:
    a = run(
        infusion(),
        obs("leukocytes", 2.0, "10*9/L", when=at(5)),
        obs("neutrophils_pct", 20.0, "%", when=at(5), status="entered-in-error"),
    )
    assert a.record.series("neutrophils") == []


def test_derived_anc_counts_for_icaht() -> None:
    resources = [infusion()]
    for d in range(0, 31):
        resources += [
            obs("leukocytes", 1.0, "10*9/L", day=d),
            obs("neutrophils_pct", 30.0, "%", day=d),  # ANC 0.3 every day
        ]
    a = run(*resources, as_of_day=30)
    assert a.icaht_early is not None
    assert a.icaht_early.counts["days_le_500"] == 31
    assert a.icaht_early.grade == 4


# ---------------------------------------------------------------------------------------------------------------
# Day numbering: a result's day is the calendar date written in its own effectiveDateTime, minus the infusion date
# ---------------------------------------------------------------------------------------------------------------

DAY_NUMBERING = [
    # effectiveDateTime, expected day (infusion 2024-03-01)
    ("2024-03-04T23:30:00+10:00", 3),  # UTC 2024-03-04T13:30
    ("2024-03-04T07:00:00+10:00", 3),  # UTC 2024-03-03T21:00 — UTC would say day 2
    ("2024-03-04T22:30:00-05:00", 3),  # UTC 2024-03-05T03:30 — UTC would say day 4
    ("2024-03-04T23:59:59-05:00", 3),
    ("2024-03-04T00:00:00+14:00", 3),
    ("2024-03-04T23:59:59-12:00", 3),
    ("2024-03-04T12:00:00Z", 3),
    ("2024-03-04T12:00:00", 3),  # no offset: read as written
    ("2024-03-04", 3),  # a date only
    ("2024-03-01T00:00:01+10:00", 0),
    ("2024-02-29T23:00:00-05:00", -1),  # UTC 2024-03-01T04:00, but the written date is before day 0
]


@pytest.mark.parametrize(("effective", "day"), DAY_NUMBERING)
def test_day_is_the_date_written_in_the_results_own_offset(effective: str, day: int) -> None:
    a = run(infusion(), obs("neutrophils", 0.3, "10*9/L", when=effective), as_of_day=10)
    la = a.lineages["neutrophils"]
    if day >= 0:
        assert la.nadir is not None and la.nadir[1] == day
        assert la.episodes[0].onset_day == day
    else:
        assert la.baseline is not None and la.nadir is None
        assert la.episodes[0].new_onset is False


def test_infusion_day_is_the_date_written_in_its_own_offset() -> None:
    """A late-evening −05:00 infusion is on the date written (2024-03-01), although UTC says 2024-03-02."""
    a = run(
        infusion(when="2024-03-01T22:00:00-05:00"),
        obs("neutrophils", 0.3, "10*9/L", when="2024-03-02T07:00:00+10:00"),  # UTC 2024-03-01T21:00
        as_of_day=5,
    )
    assert a.infusion_date == DAY0
    assert a.lineages["neutrophils"].nadir is not None and a.lineages["neutrophils"].nadir[1] == 1


def test_as_of_cuts_on_the_written_date() -> None:
    """A result written 2024-03-04T22:30−05:00 (UTC the 5th) belongs to as_of 2024-03-04; one written the 5th
    at 07:00+10:00 (UTC the 4th) does not."""
    record = extract_record(
        bundle(
            infusion(),
            obs("neutrophils", 0.3, "10*9/L", when="2024-03-04T22:30:00-05:00", id="in"),
            obs("neutrophils", 0.1, "10*9/L", when="2024-03-05T07:00:00+10:00", id="out"),
        )
    )
    a = evaluate(record, date(2024, 3, 4))
    assert a.day == 3
    assert a.lineages["neutrophils"].latest is not None
    assert a.lineages["neutrophils"].latest.source_id == "Observation/in"
    assert a.lineages["neutrophils"].nadir is not None and a.lineages["neutrophils"].nadir[0] == 0.3


@pytest.mark.parametrize("effective", ["2024-03", "2024", "", "yesterday", "2024-03-04T25:00:00Z", "2024-13-01", None])
def test_unusable_times_are_problems(effective: str | None) -> None:
    res = obs("neutrophils", 0.3, "10*9/L", day=3)
    res["effectiveDateTime"] = effective
    a = run(infusion(), res)
    assert "no-time" in problem_codes(a)
    assert a.lineages["neutrophils"].latest is None


def test_effective_period_start_is_used() -> None:
    res = obs("neutrophils", 0.3, "10*9/L", day=3)
    del res["effectiveDateTime"]
    res["effectivePeriod"] = {"start": at(4), "end": at(4, "09:00:00")}
    a = run(infusion(), res)
    assert a.lineages["neutrophils"].nadir is not None and a.lineages["neutrophils"].nadir[1] == 4


# ---------------------------------------------------------------------------------------------------------------
# Other record-level rules
# ---------------------------------------------------------------------------------------------------------------


def test_no_infusion_is_a_problem_and_nothing_is_day_numbered() -> None:
    a = run(series("neutrophils", [(0, 0.3), (1, 0.2)], "10*9/L"))
    assert a.infusion_date is None and a.day is None
    assert "no-infusion" in problem_codes(a)
    assert a.icaht_early is None and a.t_icaht_early is None
    assert a.pht_day28 == {"seed000": None, "seed001": None}
    la = a.lineages["neutrophils"]
    assert la.latest is not None and la.ctcae["5.0"] == 4  # a value is still graded
    assert la.episodes == [] and la.nadir is None
    out = a.to_json()
    assert out["icaht"]["early"] == {"grade": None, "days_le_500": None, "days_le_100": None, "provisional": True}


def test_not_done_infusion_does_not_count() -> None:
    proc = infusion()
    proc["status"] = "not-done"
    a = run(proc, obs("neutrophils", 0.3, "10*9/L", day=1))
    assert a.infusion_date is None


def test_results_for_several_patients_are_flagged() -> None:
    other = obs("neutrophils", 0.3, "10*9/L", day=1)
    other["subject"] = {"reference": "Patient/someone-else"}
    a = run(infusion(), obs("neutrophils", 0.3, "10*9/L", day=1), other)
    assert "several-patients" in problem_codes(a)


def test_unrelated_observations_are_silently_skipped() -> None:
    res = obs("neutrophils", 5, "kg", day=1, code=("http://loinc.org", "29463-7"))  # body weight
    a = run(infusion(), res, patient("female"))
    assert problem_codes(a) == []


def test_quantity_helper_is_plain_json() -> None:
    assert qty(0.5, "10*9/L") == {"value": 0.5, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}


def test_default_as_of_is_the_latest_written_date() -> None:
    """Sorted by instant, the last result (22:30−05:00 on the 10th) is not the one written latest (07:00+10:00 on the
    11th): the default as_of must still include the latter."""
    a = run(
        infusion(),
        obs("neutrophils", 1.0, "10*9/L", when="2024-03-10T23:00:00-05:00"),
        obs("neutrophils", 0.2, "10*9/L", when="2024-03-11T07:00:00+10:00"),
    )
    assert a.as_of == date(2024, 3, 11)
    assert a.lineages["neutrophils"].nadir is not None and a.lineages["neutrophils"].nadir[:2] == (0.2, 10)


@pytest.mark.parametrize(
    ("low", "low_unit", "lln", "grade"),
    [
        (2.0, "10*9/L", 2.0, 1),
        (2000, "/uL", 2.0, 1),
        (1800, "10*9/L", None, None),  # a /uL number sent as ×10⁹/L: outside 0–200, so no LLN (not "grade 1")
        (float("nan"), "10*9/L", None, None),  # NaN is no limit (it would otherwise make every value grade 0)
        (float("inf"), "10*9/L", None, None),
        (-1.0, "10*9/L", None, None),
    ],
)
def test_an_implausible_lln_is_no_lln(low: float, low_unit: str, lln: float | None, grade: int | None) -> None:
    a = run(infusion(), obs("neutrophils", 1.9, "10*9/L", day=3, low=low, low_unit=low_unit))
    latest = a.lineages["neutrophils"].latest
    assert latest is not None and latest.lln == lln
    assert a.lineages["neutrophils"].ctcae["5.0"] == grade


def test_result_json_states_the_original_value_and_unit() -> None:
    a = run(infusion(), obs("neutrophils", 400, "/uL", day=3))
    out = a.to_json()["lineages"]["neutrophils"]["latest"]
    assert out["value"] == 0.4 and out["unit"] == "10*9/L"
    assert out["original"] == {"value": 400, "unit": "/uL"}
    same = run(infusion(), obs("neutrophils", 0.4, "10*9/L", day=3)).to_json()["lineages"]["neutrophils"]["latest"]
    assert "original" not in same
