"""CTCAE boundary tables (clinical-reference.md §2), admiral style: each row is an input and its expected grade.

Rows are written in the canonical unit (counts ×10⁹/L, Hb g/L) — just below, at and just above every cut-off — and
repeated for every accepted unit, through the whole path (FHIR Observation → extract → evaluate). Each range excludes
its upper bound ("<1.0–0.5" means 0.5 ≤ x < 1.0). `G1` marks a value in the grade-1 band: grade 1 when the LLN is
above it, no grade (None) when there is no LLN.
"""

from __future__ import annotations

from typing import Any

import pytest

from cds_cyto.core.grading import ctcae
from cds_cyto.core.profile import default_profile, load_profile
from tests.core.harness import problem_codes, run
from tests.support.fhir import COUNT_UNITS, LOINC_OF, UNITS, in_unit, infusion, obs

G1 = "G1"

# ---------------------------------------------------------------------------------------------------------------
# The tables, transcribed from clinical-reference.md §2 (not read from criteria.toml: the data is what is tested).
# ---------------------------------------------------------------------------------------------------------------
ANC_V5 = [  # v4.03 and v5.0: G1 <LLN–1.5, G2 <1.5–1.0, G3 <1.0–0.5, G4 <0.5
    (0.0, 4), (0.49, 4), (0.5, 3), (0.51, 3),
    (0.99, 3), (1.0, 2), (1.01, 2),
    (1.49, 2), (1.5, G1), (1.51, G1),
]  # fmt: skip
ANC_V6 = [  # v6.0: G1 <1.5–1.0 (no LLN), G2 <1.0–0.5, G3 <0.5–0.1, G4 <0.1
    (0.0, 4), (0.09, 4), (0.1, 3), (0.11, 3),
    (0.49, 3), (0.5, 2), (0.51, 2),
    (0.99, 2), (1.0, 1), (1.01, 1),
    (1.49, 1), (1.5, 0), (1.51, 0),
]  # fmt: skip
HB_ALL = [  # g/L; G1 <LLN–100, G2 <100–80, G3 <80; grade 4 is never a lab value
    (30.0, 3), (79.9, 3), (80.0, 2), (80.1, 2),
    (99.9, 2), (100.0, G1), (100.1, G1),
]  # fmt: skip
PLT_V5 = [  # G1 <LLN–75, G2 <75–50, G3 <50–25, G4 <25
    (0.0, 4), (24.9, 4), (25.0, 3), (25.1, 3),
    (49.9, 3), (50.0, 2), (50.1, 2),
    (74.9, 2), (75.0, G1), (75.1, G1),
]  # fmt: skip
PLT_V6 = [  # "Thrombocytopenia": G1 <LLN–75, G2 <75–50, G3 <50–10, G4 <10
    (0.0, 4), (9.9, 4), (10.0, 3), (10.1, 3),
    (24.9, 3), (25.0, 3),
    (49.9, 3), (50.0, 2), (50.1, 2),
    (74.9, 2), (75.0, G1), (75.1, G1),
]  # fmt: skip
WBC_ALL = [  # G1 <LLN–3.0, G2 <3.0–2.0, G3 <2.0–1.0, G4 <1.0
    (0.0, 4), (0.99, 4), (1.0, 3), (1.01, 3),
    (1.99, 3), (2.0, 2), (2.01, 2),
    (2.99, 2), (3.0, G1), (3.01, G1),
]  # fmt: skip
LYMPH_ALL = [  # G1 <LLN–0.8, G2 <0.8–0.5, G3 <0.5–0.2, G4 <0.2 (v6.0 does not change it: reference names no change)
    (0.0, 4), (0.19, 4), (0.2, 3), (0.21, 3),
    (0.49, 3), (0.5, 2), (0.51, 2),
    (0.79, 2), (0.8, G1), (0.81, G1),
]  # fmt: skip

TABLES: dict[tuple[str, str], list[tuple[float, Any]]] = {}
for _v in ("4.03", "5.0"):
    TABLES[(_v, "neutrophils")] = ANC_V5
    TABLES[(_v, "platelets")] = PLT_V5
TABLES[("6.0", "neutrophils")] = ANC_V6
TABLES[("6.0", "platelets")] = PLT_V6
for _v in ("4.03", "5.0", "6.0"):
    TABLES[(_v, "hemoglobin")] = HB_ALL
    TABLES[(_v, "leukocytes")] = WBC_ALL
    TABLES[(_v, "lymphocytes")] = LYMPH_ALL

# The lower limit of normal used for the grade-1 rows, and the rows around it (canonical unit).
LLN = {"neutrophils": 2.0, "hemoglobin": 120.0, "platelets": 150.0, "leukocytes": 4.0, "lymphocytes": 1.0}
LLN_DELTA = {"neutrophils": 0.01, "hemoglobin": 0.1, "platelets": 0.1, "leukocytes": 0.01, "lymphocytes": 0.01}


def _lln_rows(lineage: str, version: str) -> list[tuple[float, Any]]:
    lln, d = LLN[lineage], LLN_DELTA[lineage]
    if lineage == "neutrophils" and version == "6.0":
        return [(lln - d, 0), (lln, 0), (lln + d, 0)]  # v6.0 neutrophils: no LLN band at all
    return [(round(lln - d, 6), G1), (lln, 0), (round(lln + d, 6), 0)]


def _expected(grade: Any, with_lln: bool, lineage: str, version: str) -> int | None:
    if grade == G1:
        return 1 if with_lln else None
    if grade == 0 and not with_lln and not (lineage == "neutrophils" and version == "6.0"):
        return None  # at or above every numeric bound, grade 0 and grade 1 cannot be told apart without an LLN
    return int(grade)


def _rows() -> list[Any]:
    """One row per cut-off edge per unit; the two expected columns are with the LLN and without any LLN."""
    rows = []
    for (version, lineage), table in TABLES.items():
        for unit, per in UNITS[lineage].items():
            for value, grade in [*table, *_lln_rows(lineage, version)]:
                written = in_unit(value, per)
                rows.append(
                    pytest.param(
                        version,
                        lineage,
                        written,
                        unit,
                        in_unit(LLN[lineage], per),
                        _expected(grade, True, lineage, version),
                        _expected(grade, False, lineage, version),
                        id=f"v{version}-{lineage}-{written:g}{unit}",
                    )
                )
    return rows


@pytest.mark.parametrize(
    ("version", "lineage", "value", "unit", "lln", "with_lln", "without_lln"),
    _rows(),
)
def test_ctcae_boundary_table(
    version: str,
    lineage: str,
    value: float,
    unit: str,
    lln: float,
    with_lln: int | None,
    without_lln: int | None,
) -> None:
    a = run(infusion(), obs(lineage, value, unit, day=5, low=lln))
    assert a.lineages[lineage].latest is not None, problem_codes(a)
    assert a.lineages[lineage].ctcae[version] == with_lln
    b = run(infusion(), obs(lineage, value, unit, day=5))
    assert b.lineages[lineage].ctcae[version] == without_lln


# Admiral's own test table (clinical-reference.md §2): ANC with LLN 2.0, CTCAE v5.
ADMIRAL_ANC_V5 = [(0.49, 4), (0.5, 3), (0.99, 3), (1.0, 2), (1.49, 2), (1.5, 1), (2.0, 0)]


@pytest.mark.parametrize(("value", "expected"), ADMIRAL_ANC_V5)
@pytest.mark.parametrize("unit", ["10*9/L", "/uL"])
def test_admiral_anc_table(value: float, expected: int, unit: str) -> None:
    per = COUNT_UNITS[unit]
    a = run(infusion(), obs("neutrophils", in_unit(value, per), unit, day=2, low=in_unit(2.0, per)))
    assert a.lineages["neutrophils"].ctcae["5.0"] == expected


@pytest.mark.parametrize(("value", "expected"), ADMIRAL_ANC_V5)
def test_admiral_anc_table_direct(value: float, expected: int) -> None:
    """The same table on the grader alone, with the LLN as an argument."""
    term = default_profile().ctcae["5.0"]["neutrophils"]
    assert ctcae.grade(term, value, 2.0) == expected


# Hb in mmol/L (LOINC 59260-0): converted with 1 g/dL = 0.6206 mmol/L, then graded in g/L (clinical-reference.md §1).
# 80 g/L = 4.9648 mmol/L and 100 g/L = 6.206 mmol/L. CTCAE's own text prints "<4.9 mmol/L" and "<6.2 mmol/L"
# (rounded): the engine grades the converted g/L value, so 4.9 mmol/L (78.96 g/L) is grade 3 here, not grade 2.
HB_MMOL = [
    (1.862, None, 3),  # 30.003 g/L: the plausibility floor
    (4.9, None, 3),  # 78.96 g/L — documented choice: the g/L cut-off decides, not CTCAE's rounded mmol/L text
    (4.96, None, 3),  # 79.92 g/L
    (4.97, None, 2),  # 80.08 g/L
    (6.2, None, 2),  # 99.90 g/L
    (6.21, None, None),  # 100.06 g/L: grade-1 band, no LLN → no grade
    (6.21, 7.5, 1),  # LLN 7.5 mmol/L = 120.85 g/L
    (7.49, 7.5, 1),
    (7.5, 7.5, 0),
    (7.51, 7.5, 0),
]


@pytest.mark.parametrize(("value", "lln", "expected"), HB_MMOL)
@pytest.mark.parametrize("version", ["4.03", "5.0", "6.0"])
def test_hb_mmol_per_l_boundaries(value: float, lln: float | None, expected: int | None, version: str) -> None:
    a = run(infusion(), obs("hemoglobin_mmol", value, "mmol/L", day=4, low=lln))
    assert a.lineages["hemoglobin"].ctcae[version] == expected


@pytest.mark.parametrize("version", ["4.03", "5.0", "6.0"])
@pytest.mark.parametrize("value", [30.0, 31.0, 40.0, 79.9])
def test_hb_grade_4_never_assigned(version: str, value: float) -> None:
    a = run(infusion(), obs("hemoglobin", value, "g/L", day=1, low=120.0))
    assert a.lineages["hemoglobin"].ctcae[version] == 3


@pytest.mark.parametrize(
    ("unit", "value", "lln_value", "lln_unit", "expected"),
    [
        ("10*9/L", 1.9, 2000, "/uL", 1),  # an LLN in another accepted unit is converted first
        ("/uL", 1900, 2.0, "10*9/L", 1),
        ("10*9/L", 2.0, 2000, "/uL", 0),
        ("10*9/L", 1.9, 2.0, "furlongs", None),  # an LLN in an unknown unit is no LLN
    ],
)
def test_lln_in_its_own_unit(unit: str, value: float, lln_value: float, lln_unit: str, expected: int | None) -> None:
    a = run(infusion(), obs("neutrophils", value, unit, day=3, low=lln_value, low_unit=lln_unit))
    assert a.lineages["neutrophils"].ctcae["5.0"] == expected


@pytest.mark.parametrize(("value", "expected"), [(1.79, 1), (1.8, 0), (1.5, 1), (1.49, 2)])
def test_site_default_lln(value: float, expected: int) -> None:
    """Without referenceRange.low, the site's default LLN (site file [lln_defaults]) is used."""
    profile = load_profile(site={"lln_defaults": {"neutrophils": 1.8}})
    a = run(infusion(), obs("neutrophils", value, "10*9/L", day=3), profile=profile)
    assert a.lineages["neutrophils"].ctcae["5.0"] == expected
    assert a.lineages["neutrophils"].ctcae["4.03"] == expected


def test_observation_lln_wins_over_site_default() -> None:
    profile = load_profile(site={"lln_defaults": {"neutrophils": 1.8}})
    a = run(infusion(), obs("neutrophils", 1.9, "10*9/L", day=3, low=2.0), profile=profile)
    assert a.lineages["neutrophils"].ctcae["5.0"] == 1


def test_all_three_versions_reported() -> None:
    a = run(infusion(), obs("platelets", 9.9, "10*9/L", day=3))
    assert a.lineages["platelets"].ctcae == {"4.03": 4, "5.0": 4, "6.0": 4}
    a = run(infusion(), obs("platelets", 10.0, "10*9/L", day=3))
    assert a.lineages["platelets"].ctcae == {"4.03": 4, "5.0": 4, "6.0": 3}
    a = run(infusion(), obs("neutrophils", 0.3, "10*9/L", day=3))
    assert a.lineages["neutrophils"].ctcae == {"4.03": 4, "5.0": 4, "6.0": 3}
    json_grades = a.to_json()["lineages"]["neutrophils"]["ctcae"]
    assert json_grades == {"4.03": 4, "5.0": 4, "6.0": 3}


def test_no_result_means_no_grade_not_grade_zero() -> None:
    a = run(infusion(), obs("neutrophils", 3.0, "10*9/L", day=3))
    assert a.lineages["platelets"].latest is None
    assert a.lineages["platelets"].ctcae == {"4.03": None, "5.0": None, "6.0": None}


@pytest.mark.parametrize("lineage", sorted(LLN))
def test_table_covers_the_loinc_codes(lineage: str) -> None:
    """Sanity: the representative code of every lineage resolves to that lineage."""
    assert default_profile().observation_codes[f"http://loinc.org|{LOINC_OF[lineage]}"] == lineage
