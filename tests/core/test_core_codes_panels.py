"""LOINC under its OID, and a CBC sent as one panel Observation with the counts in `component` (clinical-reference
§1): both routes (dict and lean) read them alike."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_cyto.core.extract import extract_record, extract_record_json
from cds_cyto.core.extract.record import PatientRecord
from cds_cyto.core.profile import default_profile
from tests.support.fhir import LOINC, UCUM, at, bundle, infusion, obs, patient

OID = "urn:oid:2.16.840.1.113883.6.1"


def both(*resources: dict[str, Any]) -> PatientRecord:
    """The record through the dict route, checked equal to the lean route's."""
    doc = bundle(infusion(), patient("female"), *resources)
    plain = extract_record(doc)
    assert extract_record_json(orjson.dumps(doc)) == plain
    return plain


def test_the_loinc_oid_is_data_with_its_source() -> None:
    assert default_profile().code_systems[OID] == LOINC


@pytest.mark.parametrize("analyte", ["neutrophils", "hemoglobin", "platelets"])
def test_loinc_under_its_oid_is_read_as_loinc(analyte: str) -> None:
    code = {"neutrophils": "751-8", "hemoglobin": "718-7", "platelets": "777-3"}[analyte]
    unit = "g/L" if analyte == "hemoglobin" else "10*9/L"
    record = both(obs(analyte, 80.0 if analyte == "hemoglobin" else 0.4, unit, day=3, code=(OID, code)))
    assert len(record.series(analyte)) == 1


def test_ddimer_ddu_under_the_oid_is_still_ddu() -> None:
    record = both(obs("ddimer", 1.0, "ug/mL", day=3, code=(OID, "48066-5")))
    (r,) = record.series("ddimer")
    assert (r.value, r.note) == (2.0, "D-dimer DDU converted to FEU ×2")


def test_another_oid_is_not_loinc() -> None:
    record = both(obs("neutrophils", 0.4, "10*9/L", day=3, code=("urn:oid:2.16.840.1.113883.6.96", "751-8")))
    assert record.series("neutrophils") == []


def component(code: str, value: Any, unit: str | None, system: str = LOINC) -> dict[str, Any]:
    out: dict[str, Any] = {"code": {"coding": [{"system": system, "code": code}]}}
    if value is not None:
        out["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return out


def cbc(*components: dict[str, Any], id: str = "cbc1", status: str = "final", day: int = 4) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id,
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": "58410-2"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": at(day),
        "component": list(components),
    }


CBC = (
    component("6690-2", 3.1, "10*9/L"),
    component("789-8", 3.9, "10*12/L"),  # erythrocytes: not an analyte of ours
    component("718-7", 95, "g/L"),
    component("777-3", 42, "10*3/uL"),
    component("751-8", 1200, "/uL", system=OID),
)


def test_a_cbc_panel_is_read_component_by_component() -> None:
    record = both(cbc(*CBC))
    got = {a: [(r.value, r.unit, r.source_id, r.local_date.isoformat()) for r in s] for a, s in record.labs.items()}
    day4 = at(4)[:10]
    assert got == {
        "leukocytes": [(3.1, "10*9/L", "Observation/cbc1#component[0]", day4)],
        "hemoglobin": [(95.0, "g/L", "Observation/cbc1#component[2]", day4)],
        "platelets": [(42.0, "10*9/L", "Observation/cbc1#component[3]", day4)],
        "neutrophils": [(1.2, "10*9/L", "Observation/cbc1#component[4]", day4)],
    }
    assert [p for p in record.problems if p.severity == "warning"] == []


def test_a_component_of_ours_with_an_unusable_value_is_a_data_problem() -> None:
    record = both(cbc(component("718-7", 95, "furlongs"), component("777-3", None, None)))
    problems = sorted((p.resource, p.code) for p in record.problems)
    assert problems == [
        ("Observation/cbc1#component[0]", "unit-unknown"),
        ("Observation/cbc1#component[1]", "no-value"),
    ]
    assert record.labs.get("hemoglobin", []) == [] and record.labs.get("platelets", []) == []


def test_a_panel_without_components_of_ours_is_not_our_concern() -> None:
    record = both(cbc(component("789-8", 3.9, "10*12/L"), component("787-2", 90, "fL")))
    assert record.labs == {} or all(not s for s in record.labs.values())
    assert record.problems == []


def test_the_components_take_the_panel_status() -> None:
    record = both(cbc(*CBC, status="entered-in-error"))
    assert all(not s for s in record.labs.values())
    assert {p.code for p in record.problems} == {"status-excluded"}


def test_an_amended_panel_supersedes_the_final_one() -> None:
    final = cbc(component("777-3", 42, "10*9/L"), id="a")
    amended = cbc(component("777-3", 24, "10*9/L"), id="b", status="amended")
    (r,) = both(final, amended).series("platelets")
    assert (r.value, r.source_id) == (24.0, "Observation/b#component[0]")


PANEL_ANALYTES = {"leukocytes": "6690-2", "hemoglobin": "718-7", "platelets": "777-3", "neutrophils": "751-8"}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(PANEL_ANALYTES)),
            st.decimals(min_value=0, max_value=200, places=2).map(float),
            st.sampled_from([LOINC, OID]),
        ),
        max_size=6,
    )
)
def test_a_panel_gives_the_values_of_separate_observations(parts: list[tuple[str, float, str]]) -> None:
    """Whatever the components and however LOINC is named, a panel reads as the same results sent one by one."""
    unit = {"hemoglobin": "g/L"}
    components = [component(PANEL_ANALYTES[a], v, unit.get(a, "10*9/L"), system=s) for a, v, s in parts]
    singles = [
        obs(a, v, unit.get(a, "10*9/L"), when=at(4), code=(s, PANEL_ANALYTES[a]), id=f"s{i}")
        for i, (a, v, s) in enumerate(parts)
    ]
    panel, separate = both(cbc(*components)), both(*singles)

    def values(record: PatientRecord) -> dict[str, list[tuple[float, str]]]:
        return {a: sorted((r.value, r.time.isoformat()) for r in s) for a, s in record.labs.items() if s}

    assert values(panel) == values(separate)
    assert sorted(p.code for p in panel.problems) == sorted(p.code for p in separate.problems)
