"""Units written for people (units.toml [display]): every UCUM code the profile can hold a value in has a name a
clinician reads, `shown` uses it, and the machine-readable JSON keeps the UCUM code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.extract.record import LabResult
from cds_cyto.core.grading.interval import shown
from cds_cyto.core.profile import default_profile
from cds_cyto.core.profile.unit_text import unit_text
from tests.core.harness import run
from tests.support.fhir import infusion, obs, patient


def _codes() -> set[str]:
    profile = default_profile()
    codes = set(profile.unit_aliases.values())
    codes |= {c for table in profile.exact_unit_aliases.values() for c in table.values()}
    for dim in profile.dimensions.values():
        codes |= {dim.canonical, *dim.factors}
    return codes


@pytest.mark.parametrize("code", sorted(_codes()))
def test_every_ucum_code_of_the_profile_has_a_display_with_no_ucum_notation(code: str) -> None:
    text = unit_text(code)
    assert not any(mark in text for mark in "*{}[]"), text  # "10*9/L", "{cells}", "[degF]" are UCUM, not English
    assert not text.startswith("u") and "/u" not in text, text  # micro is µ for people


@pytest.mark.parametrize(
    ("code", "people"),
    [
        ("10*9/L", "×10⁹/L"),
        ("10*3/uL", "×10³/µL"),
        ("g/L", "g/L"),
        ("mg/L", "mg/L"),
        ("pg/mL", "pg/mL"),
        ("U/L", "U/L"),
        ("ug/mL{FEU}", "µg/mL FEU"),
        ("Cel", "°C"),
        ("[degF]", "°F"),
    ],
)
def test_a_ucum_code_reads_as_a_clinician_writes_it(code: str, people: str) -> None:
    assert unit_text(code) == people


def test_a_code_with_no_display_is_shown_as_written_and_no_unit_as_nothing() -> None:
    assert unit_text("mL/min") == "mL/min"  # a card escapes it as any data
    assert unit_text(None) == unit_text("") == ""


def test_shown_writes_the_records_unit_for_people_and_keeps_the_comparator() -> None:
    t = datetime(2026, 11, 20, 8, tzinfo=UTC)
    r = LabResult("neutrophils", 0.5, "10*9/L", t, t.date(), "Observation/x", 0.5, "10*9/L", censored="<")
    assert shown(r, r.unit) == "<0.5 ×10⁹/L"
    assert shown(r) == "<0.5"


def test_data_problem_reasons_use_people_units_and_the_json_keeps_ucum() -> None:
    a: Assessment = run(
        patient(), infusion(), obs("platelets", 45000, "10*9/L", day=5), obs("neutrophils", 0.4, "10*9/L", day=5)
    )
    (problem,) = [p for p in a.data_problems if p.code == "implausible"]
    assert problem.reason.startswith("Platelets 45000 ×10⁹/L is implausible (outside 0–5000 ×10⁹/L")
    assert "10*9/L" not in problem.reason
    assert a.to_json()["lineages"]["neutrophils"]["latest"]["unit"] == "10*9/L"
