"""Units (clinical-reference.md §1): every alias of units.toml entry by entry, every accepted UCUM code per
dimension, and the spellings that must be refused (a data problem, never a guess)."""

from __future__ import annotations

from typing import Any

import pytest

from cds_cyto.core.extract import extract_record
from cds_cyto.core.extract.units import fold_unit
from cds_cyto.core.profile import default_profile
from tests.core.harness import problem_codes, run
from tests.support.fhir import LOINC_OF, UCUM, bundle, infusion, obs, qty

MMOL = 10 / 0.6206  # g/L per mmol/L of hemoglobin (1 g/dL = 0.6206 mmol/L)

# alias key (as folded in units.toml) → (analyte, value sent, expected canonical value).
# The expectation is written from clinical-reference.md §1, not computed from the table under test.
ALIAS_CASES: dict[str, tuple[str, float, float]] = {
    # ×10⁹/L spellings → a count of 0.4 ×10⁹/L
    "10*9/l": ("neutrophils", 0.4, 0.4),
    "10^9/l": ("neutrophils", 0.4, 0.4),
    "x10^9/l": ("neutrophils", 0.4, 0.4),
    "x10*9/l": ("neutrophils", 0.4, 0.4),
    "10e9/l": ("neutrophils", 0.4, 0.4),
    "x10e9/l": ("neutrophils", 0.4, 0.4),
    "10.e9/l": ("neutrophils", 0.4, 0.4),
    # ×10³/µL spellings (= ×10⁹/L)
    "10*3/ul": ("platelets", 45.0, 45.0),
    "10^3/ul": ("platelets", 45.0, 45.0),
    "x10^3/ul": ("platelets", 45.0, 45.0),
    "x10*3/ul": ("platelets", 45.0, 45.0),
    "10e3/ul": ("platelets", 45.0, 45.0),
    "x10e3/ul": ("platelets", 45.0, 45.0),
    "10^3/mm3": ("platelets", 45.0, 45.0),
    "10*3/mm3": ("platelets", 45.0, 45.0),
    "k/ul": ("leukocytes", 2.5, 2.5),
    "k/mm3": ("leukocytes", 2.5, 2.5),
    "thou/ul": ("leukocytes", 2.5, 2.5),
    "thou/mm3": ("leukocytes", 2.5, 2.5),
    # cells per µL (= ÷ 1000)
    "/ul": ("neutrophils", 400, 0.4),
    "/mm3": ("neutrophils", 400, 0.4),
    "/nl": ("neutrophils", 0.4, 0.4),  # per nanolitre = ×10⁹/L
    "cells/ul": ("lymphocytes", 350, 0.35),
    "{cells}/ul": ("lymphocytes", 350, 0.35),
    "cells/mm3": ("lymphocytes", 350, 0.35),
    # percent
    "%": ("neutrophils_pct", 55.0, 55.0),
    "percent": ("neutrophils_pct", 55.0, 55.0),
    # hemoglobin
    "g/l": ("hemoglobin", 95.0, 95.0),
    "g/dl": ("hemoglobin", 9.5, 95.0),
    "gm/dl": ("hemoglobin", 9.5, 95.0),
    "mmol/l": ("hemoglobin_mmol", 5.0, 5.0 * MMOL),
    # CRP
    "mg/l": ("crp", 12.0, 12.0),
    "mg/dl": ("crp", 1.2, 12.0),
    # ferritin
    "ng/ml": ("ferritin", 800.0, 800.0),
    "ug/l": ("ferritin", 800.0, 800.0),
    "mcg/l": ("ferritin", 800.0, 800.0),
    "pmol/l": ("ferritin", 2247.0, 1000.0),
    # cytokines
    "pg/ml": ("il6", 30.0, 30.0),
    "ng/l": ("il10", 30.0, 30.0),
    # LDH
    "u/l": ("ldh", 250.0, 250.0),
    "iu/l": ("ldh", 250.0, 250.0),
    "[iu]/l": ("ldh", 250.0, 250.0),
    # D-dimer, FEU (LOINC 48065-7)
    "ug/ml": ("ddimer", 1.5, 1.5),
    "ug/ml{feu}": ("ddimer", 1.5, 1.5),
    "ugfeu/ml": ("ddimer", 1.5, 1.5),
    "ug/mlfeu": ("ddimer", 1.5, 1.5),
    "mg/l{feu}": ("ddimer", 1.5, 1.5),
    "mgfeu/l": ("ddimer", 1.5, 1.5),
    "mg/lfeu": ("ddimer", 1.5, 1.5),
    "ng/ml{feu}": ("ddimer", 1500.0, 1.5),
    "ngfeu/ml": ("ddimer", 1500.0, 1.5),
    "ng/mlfeu": ("ddimer", 1500.0, 1.5),
    # D-dimer, DDU (LOINC 48066-5) → FEU ×2
    "ug/ml{ddu}": ("ddimer_ddu", 0.75, 1.5),
    "ng/ml{ddu}": ("ddimer_ddu", 750.0, 1.5),
    "ngddu/ml": ("ddimer_ddu", 750.0, 1.5),
    "ng/mlddu": ("ddimer_ddu", 750.0, 1.5),
    "mg/l{ddu}": ("ddimer_ddu", 0.75, 1.5),
    # temperature
    "cel": ("temperature", 38.5, 38.5),
    "°c": ("temperature", 38.5, 38.5),
    "degc": ("temperature", 38.5, 38.5),
    "c": ("temperature", 38.5, 38.5),
    "[degf]": ("temperature", 101.3, 38.5),
    "°f": ("temperature", 101.3, 38.5),
    "degf": ("temperature", 101.3, 38.5),
}

ANALYTE_OF = {"hemoglobin_mmol": "hemoglobin", "ddimer_ddu": "ddimer"}


def _extract_one(analyte: str, value: Any, quantity: dict[str, Any]) -> tuple[Any, list[str]]:
    record = extract_record(bundle(infusion(), obs(analyte, value, None, day=1, quantity=quantity)))
    results = record.series(ANALYTE_OF.get(analyte, analyte))
    return (results[0] if results else None), [p.code for p in record.problems]


def test_every_alias_has_a_case() -> None:
    """A new alias in units.toml must come with its own row here (and a removed one must leave)."""
    assert set(ALIAS_CASES) == set(default_profile().unit_aliases)


@pytest.mark.parametrize(("spelling", "case"), sorted(ALIAS_CASES.items()), ids=sorted(ALIAS_CASES))
def test_alias_entry_as_free_text(spelling: str, case: tuple[str, float, float]) -> None:
    """Each spelling sent as Quantity.unit without a UCUM system → its canonical value."""
    analyte, value, expected = case
    result, problems = _extract_one(analyte, value, {"value": value, "unit": spelling})
    assert result is not None, problems
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert result.original_value == value
    assert result.original_unit == spelling


@pytest.mark.parametrize(("spelling", "case"), sorted(ALIAS_CASES.items()), ids=sorted(ALIAS_CASES))
def test_alias_entry_as_upper_case_with_spaces(spelling: str, case: tuple[str, float, float]) -> None:
    """Folding: case and inner spaces do not matter."""
    analyte, value, expected = case
    written = " " + " ".join(spelling.upper()) + " "
    assert fold_unit(written) == spelling
    result, problems = _extract_one(analyte, value, {"value": value, "unit": written})
    assert result is not None, problems
    assert result.value == pytest.approx(expected, rel=1e-9)


# Spellings labs really send → the value in the canonical unit (µ micro sign and μ Greek mu both fold to u).
REAL_SPELLINGS = [
    ("neutrophils", "x10^9/L", 0.4, 0.4),
    ("neutrophils", "x 10^9/L", 0.4, 0.4),
    ("neutrophils", "10E9/L", 0.4, 0.4),
    ("neutrophils", "K/µL", 0.4, 0.4),
    ("neutrophils", "K/μL", 0.4, 0.4),
    ("neutrophils", "cells/µL", 400, 0.4),
    ("neutrophils", "cells/μL", 400, 0.4),
    ("neutrophils", "/µL", 400, 0.4),
    ("neutrophils", "x10^3/µL", 0.4, 0.4),
    ("platelets", "THOU/uL", 45, 45.0),
    ("hemoglobin", "g/dl", 9.5, 95.0),
    ("hemoglobin", "G/DL", 9.5, 95.0),
    ("hemoglobin", "gm/dL", 9.5, 95.0),
    ("hemoglobin_mmol", "mmol/l", 5.0, 5.0 * MMOL),
    ("ferritin", "µg/L", 800, 800.0),
    ("ferritin", "mcg/L", 800, 800.0),
    ("ddimer", "µg/mL FEU", 1.5, 1.5),
    ("temperature", "°C", 38.5, 38.5),
    ("temperature", "°F", 98.6, 37.0),
]


@pytest.mark.parametrize(("analyte", "unit", "value", "expected"), REAL_SPELLINGS)
def test_real_lab_spellings(analyte: str, unit: str, value: float, expected: float) -> None:
    result, problems = _extract_one(analyte, value, {"value": value, "unit": unit})
    assert result is not None, problems
    assert result.value == pytest.approx(expected, rel=1e-9)


# Every UCUM code accepted per dimension (system = UCUM, the code decides) → canonical value.
UCUM_CASES: list[tuple[str, str, str, float, float]] = [
    # (dimension, analyte, UCUM code, value, expected canonical)
    ("count", "neutrophils", "10*9/L", 0.5, 0.5),
    ("count", "neutrophils", "10*3/uL", 0.5, 0.5),
    ("count", "neutrophils", "/uL", 500, 0.5),
    ("count", "neutrophils", "/mm3", 500, 0.5),
    ("count", "neutrophils", "{cells}/uL", 500, 0.5),
    ("count", "neutrophils", "/nL", 0.5, 0.5),
    ("percent", "neutrophils_pct", "%", 42.0, 42.0),
    ("hemoglobin", "hemoglobin", "g/L", 80.0, 80.0),
    ("hemoglobin", "hemoglobin", "g/dL", 8.0, 80.0),
    ("hemoglobin", "hemoglobin_mmol", "mmol/L", 4.9648, 4.9648 * MMOL),
    ("crp", "crp", "mg/L", 30.0, 30.0),
    ("crp", "crp", "mg/dL", 3.0, 30.0),
    ("ferritin", "ferritin", "ng/mL", 650.0, 650.0),
    ("ferritin", "ferritin", "ug/L", 650.0, 650.0),
    ("ferritin", "ferritin", "pmol/L", 2247.0, 1000.0),
    ("cytokine", "il6", "pg/mL", 21.43, 21.43),
    ("cytokine", "il6", "ng/L", 21.43, 21.43),
    ("cytokine", "ifng", "pg/mL", 5.0, 5.0),
    ("cytokine", "tnfa", "ng/L", 5.0, 5.0),
    ("ddimer", "ddimer", "ug/mL", 2.0, 2.0),
    ("ddimer", "ddimer", "mg/L", 2.0, 2.0),
    ("ddimer", "ddimer", "ng/mL", 2000.0, 2.0),
    ("ddimer", "ddimer", "ug/L", 2000.0, 2.0),
    ("ddimer", "ddimer", "ug/mL{FEU}", 2.0, 2.0),
    ("ddimer", "ddimer", "mg/L{FEU}", 2.0, 2.0),
    ("ddimer", "ddimer", "ng/mL{FEU}", 2000.0, 2.0),
    ("ddimer", "ddimer_ddu", "ug/mL", 1.0, 2.0),
    ("ddimer", "ddimer_ddu", "ng/mL{DDU}", 1000.0, 2.0),
    ("enzyme", "ldh", "U/L", 480.0, 480.0),
    ("fibrinogen", "fibrinogen", "g/L", 1.5, 1.5),
    ("fibrinogen", "fibrinogen", "mg/dL", 150.0, 1.5),
    ("temperature", "temperature", "Cel", 38.0, 38.0),
    ("temperature", "temperature", "[degF]", 100.4, 38.0),
]


def test_every_ucum_factor_has_a_case() -> None:
    tested = {(dim, code) for dim, _, code, _, _ in UCUM_CASES}
    declared = {(dim, code) for dim, d in default_profile().dimensions.items() for code in d.factors}
    assert declared <= tested


@pytest.mark.parametrize(("dimension", "analyte", "code", "value", "expected"), UCUM_CASES)
def test_ucum_code(dimension: str, analyte: str, code: str, value: float, expected: float) -> None:
    result, problems = _extract_one(analyte, value, qty(value, code))
    assert result is not None, problems
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert default_profile().analytes[result.analyte].dimension == dimension


def test_ddimer_ddu_is_doubled_and_says_so() -> None:
    result, _ = _extract_one("ddimer_ddu", 0.8, qty(0.8, "mg/L"))
    assert result is not None
    assert result.value == pytest.approx(1.6)
    assert result.unit == "ug/mL{FEU}"
    assert result.note is not None and "DDU" in result.note and "FEU" in result.note and "2" in result.note
    fe, _ = _extract_one("ddimer", 0.8, qty(0.8, "mg/L{FEU}"))
    assert fe is not None and fe.value == pytest.approx(0.8) and fe.note is None


@pytest.mark.parametrize(
    ("analyte", "unit"),
    [("ddimer", "ng/mL{DDU}"), ("ddimer", "ug/mL{DDU}"), ("ddimer_ddu", "ug/mL{FEU}"), ("ddimer_ddu", "mg/L{FEU}")],
)
def test_ddimer_basis_must_agree_with_the_code(analyte: str, unit: str) -> None:
    """A {FEU}/{DDU} annotation that contradicts the LOINC code is a data problem, not a guess."""
    result, problems = _extract_one(analyte, 1.0, qty(1.0, unit))
    assert result is None
    assert problems == ["unit-unknown"]


# Refused: a spelling not in the table, a unit of another dimension, or no unit at all.
REFUSED = [
    ("neutrophils", {"value": 0.4, "unit": "10*6/uL"}, "unit-unknown"),  # millions per µL: not a count alias
    ("neutrophils", {"value": 0.4, "unit": "g/L"}, "unit-unknown"),  # a mass concentration, not G/L (giga per litre)
    ("neutrophils", {"value": 0.4, "unit": "g/l"}, "unit-unknown"),
    ("neutrophils", {"value": 0.4, "unit": "G/l"}, "unit-unknown"),  # only exactly "G/L" is giga per litre
    ("neutrophils", {"value": 0.4, "unit": "GL"}, "unit-unknown"),
    ("neutrophils", {"value": 0.4, "unit": "g/dL"}, "unit-unknown"),
    ("neutrophils", {"value": 40, "unit": "%"}, "unit-unknown"),  # a percentage is not an absolute count
    ("neutrophils", {"value": 0.4, "unit": "cells"}, "unit-unknown"),
    ("neutrophils", {"value": 0.4, "unit": "thousand"}, "unit-unknown"),
    ("neutrophils", {"value": 0.4, "system": UCUM, "code": "10*6/uL"}, "unit-unknown"),
    ("hemoglobin", {"value": 9.5, "unit": "mg/dL"}, "unit-unknown"),
    ("hemoglobin", {"value": 9.5, "unit": "g"}, "unit-unknown"),
    ("hemoglobin", {"value": 9.5, "unit": "%"}, "unit-unknown"),
    ("platelets", {"value": 45, "unit": "mmol/L"}, "unit-unknown"),
    ("crp", {"value": 12, "unit": "mg"}, "unit-unknown"),
    ("neutrophils", {"value": 0.4}, "unit-missing"),
    ("neutrophils", {"value": 0.4, "unit": ""}, "unit-missing"),
    ("neutrophils", {"value": 0.4, "unit": "   "}, "unit-missing"),
    ("neutrophils", {"value": 0.4, "system": UCUM}, "unit-missing"),
    ("neutrophils", {"value": 0.4, "system": UCUM, "code": ""}, "unit-missing"),
    ("neutrophils", {"value": 0.4, "system": "http://acme.lab/units", "code": "K/uL"}, "unit-missing"),
    ("hemoglobin", {"value": 9.5, "unit": None}, "unit-missing"),
    ("hemoglobin", {"value": 9.5, "unit": 10}, "unit-missing"),
]


@pytest.mark.parametrize(("analyte", "quantity", "code"), REFUSED)
def test_refused_units_are_data_problems_never_grades(analyte: str, quantity: dict[str, Any], code: str) -> None:
    a = run(infusion(), obs(analyte, None, None, day=3, quantity=quantity))
    assert code in problem_codes(a)
    lineage = ANALYTE_OF.get(analyte, analyte)
    if lineage in a.lineages:
        assert a.lineages[lineage].latest is None
        assert set(a.lineages[lineage].ctcae.values()) == {None}


def test_ucum_code_decides_over_the_display_text() -> None:
    """system = UCUM: Quantity.code decides, whatever Quantity.unit says."""
    result, _ = _extract_one("neutrophils", 0.4, {"value": 0.4, "unit": "cells/uL", "system": UCUM, "code": "10*3/uL"})
    assert result is not None and result.value == 0.4


def test_non_ucum_system_reads_the_unit_text() -> None:
    q = {"value": 400, "unit": "cells/uL", "system": "http://acme.lab/units", "code": "10*3/uL"}
    result, _ = _extract_one("neutrophils", 400, q)
    assert result is not None and result.value == 0.4


def test_code_without_system_or_text_is_read() -> None:
    result, _ = _extract_one("neutrophils", 400, {"value": 400, "code": "/uL"})
    assert result is not None and result.value == 0.4


@pytest.mark.parametrize(("unit", "value"), [("/uL", 500), ("/mm3", 500), ("{cells}/uL", 500), ("10*9/L", 0.5)])
def test_conversion_never_moves_a_value_across_a_cut_off(unit: str, value: float) -> None:
    """500 /uL is exactly 0.5 ×10⁹/L: grade 3 (v5) and not severe, as 0.5 ×10⁹/L is."""
    a = run(infusion(), obs("neutrophils", value, unit, day=3))
    assert a.lineages["neutrophils"].latest is not None
    assert a.lineages["neutrophils"].latest.value == 0.5
    assert a.lineages["neutrophils"].ctcae["5.0"] == 3
    assert a.lineages["neutrophils"].severe is False


@pytest.mark.parametrize("spelling", ["\u00b5L", "\u03bcL"])
def test_micro_sign_and_greek_mu_fold_alike(spelling: str) -> None:
    assert fold_unit(spelling) == "ul"


def test_loinc_codes_of_the_reference_map_to_their_analyte() -> None:
    """clinical-reference.md §1 codes → analyte (the tested representative codes are among them)."""
    codes = default_profile().observation_codes
    expected = {
        "neutrophils": ["751-8", "753-4", "26499-4"],
        "neutrophils_pct": ["770-8"],
        "hemoglobin": ["718-7", "20509-6", "30313-1", "59260-0"],
        "platelets": ["777-3", "26515-7", "49497-1", "778-1"],
        "leukocytes": ["6690-2", "26464-8", "804-5"],
        "lymphocytes": ["731-0", "26474-7", "732-8"],
        "crp": ["1988-5", "30522-7"],
        "ferritin": ["2276-4", "20567-4"],
        "il6": ["26881-3"],
        "il10": ["26848-2"],
        "ifng": ["27415-9"],
        "tnfa": ["3074-2"],
        "ddimer": ["48065-7", "48066-5"],
        "ldh": ["2532-0", "14804-9"],
        "fibrinogen": ["3255-7"],
        "temperature": ["8310-5"],
    }
    for analyte, loincs in expected.items():
        for code in loincs:
            assert codes[f"http://loinc.org|{code}"] == analyte
    assert LOINC_OF["neutrophils"] in expected["neutrophils"]


# The units of clinical-reference.md §1 for ANC, platelets, WBC and lymphocytes, entry by entry: the UCUM codes (system
# = UCUM, the code decides), and the lab spellings that are aliases only (K/uL, 10^9/L, G/L: not UCUM — K is kelvin).
COUNT_ANALYTES = ["neutrophils", "platelets", "leukocytes", "lymphocytes"]
COUNT_UCUM = [("10*3/uL", 1.2, 1.2), ("10*9/L", 1.2, 1.2), ("/uL", 1200, 1.2), ("/mm3", 1200, 1.2)]
COUNT_UCUM += [("{cells}/uL", 1200, 1.2), ("/nL", 1.2, 1.2)]
COUNT_ALIASES = [("K/uL", 1.2, 1.2), ("10^9/L", 1.2, 1.2), ("G/L", 1.2, 1.2)]


@pytest.mark.parametrize("analyte", COUNT_ANALYTES)
@pytest.mark.parametrize(("code", "value", "expected"), COUNT_UCUM)
def test_reference_count_ucum_codes(analyte: str, code: str, value: float, expected: float) -> None:
    result, problems = _extract_one(analyte, value, {"value": value, "system": UCUM, "code": code})
    assert result is not None, problems
    assert result.value == expected


@pytest.mark.parametrize("analyte", COUNT_ANALYTES)
@pytest.mark.parametrize(("unit", "value", "expected"), COUNT_ALIASES)
def test_reference_count_aliases(analyte: str, unit: str, value: float, expected: float) -> None:
    result, problems = _extract_one(analyte, value, {"value": value, "unit": unit})
    assert result is not None, problems
    assert result.value == expected


def test_the_lab_spellings_are_not_ucum_codes() -> None:
    factors = default_profile().dimensions["count"].factors
    assert {"K/uL", "10^9/L", "G/L"}.isdisjoint(factors)


def test_giga_per_litre_is_a_count_only() -> None:
    """ "G/L" is giga per litre for a count; for hemoglobin it is read as g/L (the folded alias), never as a count."""
    assert default_profile().exact_unit_aliases == {"count": {"G/L": "10*9/L"}}
    hb, _ = _extract_one("hemoglobin", 95.0, {"value": 95.0, "unit": "G/L"})
    assert hb is not None and hb.value == 95.0
    crp, problems = _extract_one("crp", 12.0, {"value": 12.0, "unit": "G/L"})
    assert crp is None and "unit-unknown" in problems
