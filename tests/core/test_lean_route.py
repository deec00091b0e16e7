"""The lean route (`extract_record_json`, bytes → record through msgspec) gives exactly the record of the dict route
(`extract_record(orjson.loads(bytes))`): on every bundled fixture, on clinical bundles in compact and indented JSON,
and on junk. Both routes refuse the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_cyto.core.extract import extract_record, extract_record_json
from cds_cyto.core.extract.lean import LeanObservation, resources_from_json
from cds_cyto.core.extract.record import PatientRecord
from tests.core.test_core_invariants import FEW, clinical_bundle, json_junk, junk_bundle
from tests.support.fhir import LOINC, UCUM, at, bundle, infusion, obs, patient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _both(body: bytes) -> tuple[PatientRecord | str, PatientRecord | str]:
    try:
        plain: PatientRecord | str = extract_record(orjson.loads(body))
    except orjson.JSONDecodeError:
        plain = "refused"
    try:
        lean: PatientRecord | str = extract_record_json(body)
    except orjson.JSONDecodeError:
        lean = "refused"
    return plain, lean


def _agree(plain: PatientRecord | str, lean: PatientRecord | str) -> bool:
    """One record; or orjson refused the bytes (an integer beyond any float) and msgspec read them."""
    return lean == plain or (plain == "refused" and isinstance(lean, PatientRecord))


def _encode(doc: Any, indent: bool) -> bytes:
    try:
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0)
    except TypeError:  # an integer beyond 64 bits: orjson cannot write it, the standard library can
        return json.dumps(doc, indent=2 if indent else None).encode()


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("*.json")), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_gives_one_record(path: Path) -> None:
    body = path.read_bytes()
    plain, lean = _both(body)
    assert lean == plain


def test_the_common_shape_takes_the_lean_route() -> None:
    """The route is taken (else this file would test nothing): plain lab results arrive as LeanObservations."""
    items = resources_from_json(orjson.dumps(bundle(patient("female"), obs("neutrophils", 0.4, "10*9/L", day=3))))
    assert [type(i).__name__ for i in items] == ["dict", "LeanObservation"]
    assert isinstance(items[1], LeanObservation) and items[1].as_dict()["resourceType"] == "Observation"


@FEW
@given(resources=clinical_bundle(), indent=st.booleans())
def test_clinical_bundles_give_one_record(resources: list[dict[str, Any]], indent: bool) -> None:
    plain, lean = _both(_encode(bundle(resources), indent))
    assert isinstance(plain, PatientRecord)
    assert lean == plain


@FEW
@given(data=junk_bundle(), indent=st.booleans())
def test_junk_gives_one_record(data: tuple[dict[str, Any], list[str]], indent: bool) -> None:
    doc, _ = data
    plain, lean = _both(_encode(doc, indent))
    assert _agree(plain, lean)


@FEW
@given(junk=json_junk)
def test_any_json_gives_one_record_or_one_refusal(junk: Any) -> None:
    for doc in (junk, {"resourceType": "Bundle", "entry": junk}, {"resourceType": "Bundle", "entry": [junk]}):
        plain, lean = _both(_encode(doc, False))
        assert _agree(plain, lean)


@FEW
@given(raw=st.binary(max_size=200))
def test_any_bytes_give_one_record_or_one_refusal(raw: bytes) -> None:
    plain, lean = _both(raw)
    assert _agree(plain, lean)


# Every way the lean route hands an Observation back to the dict route, one example each.
_BASE = obs("platelets", 12, "10*9/L", when=at(5), id="o1", low=150)
_G_L = {"unit": "10*9/L", "system": UCUM, "code": "10*9/L"}
_VARIANTS: dict[str, dict[str, Any]] = {
    "excluded status": {"status": "entered-in-error"},
    "no status": {"status": None},
    "time as instant": {"effectiveDateTime": None, "effectiveInstant": at(5)},
    "time as period": {"effectiveDateTime": None, "effectivePeriod": {"start": at(5)}},
    "date only": {"effectiveDateTime": "2026-03-06"},
    "unreadable time": {"effectiveDateTime": "yesterday"},
    "empty time": {"effectiveDateTime": ""},
    "no value": {"valueQuantity": _G_L},
    "text value": {"valueQuantity": None, "valueString": "<10"},
    "absent value": {"valueQuantity": None, "dataAbsentReason": {"text": "clotted"}},
    "boolean value": {"valueQuantity": {"value": True, "unit": "10*9/L"}},
    "unknown unit": {"valueQuantity": {"value": 12, "unit": "furlongs"}},
    "no unit": {"valueQuantity": {"value": 12}},
    "implausible value": {"valueQuantity": {"value": 12000, **_G_L}},
    "comparator": {"valueQuantity": {"value": 10, "comparator": "<", **_G_L}},
    "range in another unit": {"referenceRange": [{"low": {"value": 150000, "unit": "/uL"}}]},
    "range without low": {"referenceRange": [{"high": {"value": 400, "unit": "10*9/L"}}]},
    "range low null": {"referenceRange": [{"low": None}]},
    "implausible range": {"referenceRange": [{"low": {"value": 1e9, **_G_L}}]},
    "empty range list": {"referenceRange": []},
    "second range only": {"referenceRange": [{"text": "adult"}, {"low": {"value": 150, "unit": "10*9/L"}}]},
    "numeric code": {"code": {"coding": [{"system": LOINC, "code": 777}]}},
    "no coding": {"code": {"text": "platelets"}},
    "other analyte first": {"code": {"coding": [{"system": "local", "code": "x"}, {"system": LOINC, "code": "777-3"}]}},
    "string subject": {"subject": "Patient/p1"},
    "no id": {"id": None},
    "numeric id": {"id": 7},
    "version meta": {"meta": {"versionId": "2", "lastUpdated": "2026-03-07T00:00:00Z"}},
    "numeric version": {"meta": {"versionId": 2}},
    "loinc oid": {"code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": "777-3"}]}},
    "component panel": {
        "code": {"coding": [{"system": LOINC, "code": "58410-2"}]},
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "777-3"}]}, "valueQuantity": {"value": 12, **_G_L}},
            {"code": {"coding": [{"system": LOINC, "code": "718-7"}]}, "valueQuantity": {"value": 9.5, "unit": "g/dL"}},
            {"code": {"coding": [{"system": LOINC, "code": "787-2"}]}, "valueQuantity": {"value": 90, "unit": "fL"}},
        ],
    },
    "component of an analyte": {"component": [{"code": {"coding": [{"system": LOINC, "code": "751-8"}]}}]},
    "empty component list": {"component": []},
}


@pytest.mark.parametrize("variant", sorted(_VARIANTS))
def test_each_hand_back_gives_one_record(variant: str) -> None:
    changed = {**_BASE, **_VARIANTS[variant]}
    changed = {k: v for k, v in changed.items() if v is not None}
    twin = {**_BASE, "id": "o2", "meta": {"versionId": "1"}}
    for resources in ([changed], [changed, twin], [twin, changed], [changed, {**changed, "status": "amended"}]):
        doc = bundle(infusion(), patient("male"), *resources)
        for indent in (False, True):
            plain, lean = _both(_encode(doc, indent))
            assert isinstance(plain, PatientRecord)
            assert lean == plain, variant


def test_a_number_beyond_any_float_is_refused_on_both_routes() -> None:
    body = orjson.dumps(bundle(obs("platelets", 12, "10*9/L", id="big"))).replace(b'"value":12', b'"value":1e400')
    plain, lean = _both(body)
    assert plain == lean == "refused"


@pytest.mark.parametrize("where", [b'"gender":"male"', b'"category":[{"coding"'])
def test_a_number_beyond_any_float_in_a_skipped_element_is_refused_on_both_routes(where: bytes) -> None:
    """In a Patient (decoded as a dict) and in an Observation element the lean decode skips."""
    body = orjson.dumps(bundle(patient("male"), obs("platelets", 12, "10*9/L", id="o")))
    assert where in body
    body = body.replace(where, b'"x":1e400,' + where, 1)
    plain, lean = _both(body)
    assert plain == "refused"
    assert lean == "refused" or (  # in an Observation: msgspec reads it when the result is handed back
        isinstance(lean, PatientRecord) and lean.labs["platelets"][0].value == 12.0
    )


@pytest.mark.parametrize("digits", [30, 400])
def test_big_integers_read_as_orjson_reads_them(digits: int) -> None:
    """Up to a float's range orjson reads an integer as a float; beyond it, it refuses the Bundle. So does the lean
    route: the value is read by the dict route's own parser."""
    body = orjson.dumps(bundle(obs("platelets", 12, "10*9/L", id="big"), obs("platelets", 20, "10*9/L", id="ok")))
    body = body.replace(b'"value":12', b'"value":' + b"9" * digits)
    plain, lean = _both(body)
    assert lean == plain
    assert (plain == "refused") is (digits == 400)


@pytest.mark.parametrize(
    "bad",
    [b'"note":[{"text":"\xff"}],', b'"id":"o\xc3",', b'"note":[{"text":"M\xfcller"}],'],
    ids=["lone 0xff in a skipped element", "broken sequence in an id", "Latin-1 text"],
)
def test_bytes_that_are_not_utf8_are_refused_on_both_routes(bad: bytes) -> None:
    body = orjson.dumps(bundle(patient("male"), obs("platelets", 12, "10*9/L", id="o")))
    body = body.replace(b'"status":"final",', b'"status":"final",' + bad.decode("unicode_escape").encode("latin-1"), 1)
    plain, lean = _both(body)
    assert plain == lean == "refused"


def test_a_lone_surrogate_in_a_str_is_refused_on_both_routes() -> None:
    """A str holding a lone surrogate, as a caller might pass."""
    text = orjson.dumps(bundle(obs("platelets", 12, "10*9/L", id="o"))).decode().replace('"o"', '"\ud800"')
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
    with pytest.raises(orjson.JSONDecodeError):
        extract_record_json(text)


@pytest.mark.parametrize("where", ["Observation", "Patient"])
def test_nesting_deeper_than_msgspec_goes_reads_as_orjson_reads_it(where: str) -> None:
    deep = "[" * 990 + "]" * 990
    resources = [patient("male"), obs("platelets", 12, "10*9/L", id="o")]
    target = resources[1] if where == "Observation" else resources[0]
    target["extension"] = "DEEP"
    body = orjson.dumps(bundle(*resources)).replace(b'"DEEP"', deep.encode())
    plain, lean = _both(body)
    assert isinstance(plain, PatientRecord)
    assert lean == plain


def test_a_duplicate_key_reads_as_orjson_reads_it() -> None:
    body = orjson.dumps(bundle(obs("platelets", 12, "10*9/L", id="dup")))
    body = body.replace(b'"resourceType":"Observation"', b'"resourceType":"Observation","resourceType":"Procedure"')
    plain, lean = _both(body)
    assert isinstance(plain, PatientRecord)
    assert lean == plain
