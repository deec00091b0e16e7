"""Seed-paper definitions as boundary tables (clinical-reference.md §2): seed 000 severe (SN/SA/ST) and cytopenia
(sex-specific Hb), seed 001 grade ≥ 3 — every cut-off just below / at / just above, in every accepted unit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.harness import run
from tests.support.fhir import UNITS, in_unit, infusion, obs, patient

# (lineage, canonical value, expected) — all cut-offs are strict "<"
SEED000_SEVERE = [
    ("neutrophils", 0.49, True), ("neutrophils", 0.5, False), ("neutrophils", 0.51, False),
    ("hemoglobin", 59.9, True), ("hemoglobin", 60.0, False), ("hemoglobin", 60.1, False),
    ("platelets", 19.9, True), ("platelets", 20.0, False), ("platelets", 20.1, False),
    ("leukocytes", 0.1, None), ("lymphocytes", 0.1, None),  # seed 000 defines no severe WBC/lymphocyte cytopenia
]  # fmt: skip
SEED000_CYTOPENIA = [  # Hb rows are for a man (< 120 g/L) — women below
    ("neutrophils", 1.49, True), ("neutrophils", 1.5, False), ("neutrophils", 1.51, False),
    ("platelets", 99.9, True), ("platelets", 100.0, False), ("platelets", 100.1, False),
    ("hemoglobin", 119.9, True), ("hemoglobin", 120.0, False), ("hemoglobin", 120.1, False),
    ("leukocytes", 0.1, None), ("lymphocytes", 0.1, None),
]  # fmt: skip
SEED001_GRADE3 = [
    ("neutrophils", 0.99, True), ("neutrophils", 1.0, False), ("neutrophils", 1.01, False),
    ("hemoglobin", 79.9, True), ("hemoglobin", 80.0, False), ("hemoglobin", 80.1, False),
    ("platelets", 49.9, True), ("platelets", 50.0, False), ("platelets", 50.1, False),
    # lineages seed 001 does not define: the CTCAE v4.03 grade-3 bound (profiles.toml [grade3plus_extra])
    ("leukocytes", 1.99, True), ("leukocytes", 2.0, False), ("leukocytes", 2.01, False),
    ("lymphocytes", 0.49, True), ("lymphocytes", 0.5, False), ("lymphocytes", 0.51, False),
]  # fmt: skip


def _rows(table: list[tuple[str, float, Any]]) -> list[Any]:
    return [
        pytest.param(lineage, in_unit(value, per), unit, expected, id=f"{lineage}-{in_unit(value, per):g}{unit}")
        for lineage, value, expected in table
        for unit, per in UNITS[lineage].items()
    ]


@pytest.mark.parametrize(("lineage", "value", "unit", "expected"), _rows(SEED000_SEVERE))
def test_seed000_severe(lineage: str, value: float, unit: str, expected: bool | None) -> None:
    a = run(infusion(), patient("male"), obs(lineage, value, unit, day=7))
    assert a.lineages[lineage].severe is expected


@pytest.mark.parametrize(("lineage", "value", "unit", "expected"), _rows(SEED000_CYTOPENIA))
def test_seed000_cytopenia(lineage: str, value: float, unit: str, expected: bool | None) -> None:
    a = run(infusion(), patient("male"), obs(lineage, value, unit, day=7))
    assert a.lineages[lineage].cytopenia is expected


@pytest.mark.parametrize(("lineage", "value", "unit", "expected"), _rows(SEED001_GRADE3))
def test_seed001_grade3plus(lineage: str, value: float, unit: str, expected: bool | None) -> None:
    a = run(infusion(), obs(lineage, value, unit, day=7))
    assert a.lineages[lineage].grade3plus is expected


HB_BY_SEX = [
    # sex, Hb g/L, anemia (seed 000: < 120 g/L men, < 110 g/L women; unknown sex → cannot tell)
    ("male", 119.9, True), ("male", 120.0, False), ("male", 115.0, True),
    ("female", 109.9, True), ("female", 110.0, False), ("female", 110.1, False), ("female", 115.0, False),
    (None, 100.0, None), (None, 130.0, None), ("other", 100.0, None), ("unknown", 100.0, None),
]  # fmt: skip


@pytest.mark.parametrize(("sex", "value", "expected"), HB_BY_SEX)
@pytest.mark.parametrize(("unit", "per"), [("g/L", "1"), ("g/dL", "0.1")])
def test_seed000_anemia_is_sex_specific(
    sex: str | None, value: float, expected: bool | None, unit: str, per: str
) -> None:
    a = run(infusion(), patient(sex), obs("hemoglobin", in_unit(value, per), unit, day=7))
    assert a.lineages["hemoglobin"].cytopenia is expected


@pytest.mark.parametrize(
    ("mmol", "severe", "grade3plus"),
    [
        (3.72, True, True),  # 59.94 g/L
        (3.73, False, True),  # 60.10 g/L
        (4.96, False, True),  # 79.92 g/L
        (4.97, False, False),  # 80.08 g/L
    ],
)
def test_hb_mmol_definitions(mmol: float, severe: bool, grade3plus: bool) -> None:
    a = run(infusion(), obs("hemoglobin_mmol", mmol, "mmol/L", day=7))
    assert a.lineages["hemoglobin"].severe is severe
    assert a.lineages["hemoglobin"].grade3plus is grade3plus


def test_definitions_use_the_latest_value() -> None:
    a = run(
        infusion(),
        obs("neutrophils", 0.2, "10*9/L", day=5),
        obs("neutrophils", 0.7, "10*9/L", day=6),
    )
    la = a.lineages["neutrophils"]
    assert (la.severe, la.grade3plus, la.cytopenia) == (False, True, True)
    assert la.nadir is not None and la.nadir[:2] == (0.2, 5)
