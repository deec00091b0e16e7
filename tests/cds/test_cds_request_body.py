"""The service reads a hook request's bytes with `read_hook_body` (prefetched lab results decoded lean). For any
body, the answer must be the one the plain reading (`orjson.loads`) gives: the same cards, or the same failure."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_cyto.app import create_app
from cds_cyto.cds.patient_view import HookFailure, PatientViewService
from cds_cyto.cds.request_body import read_hook_body
from cds_cyto.core.extract.lean import LeanObservation
from cds_cyto.settings import Settings
from cds_cyto.sources import SortedSearchset
from tests.cds.scenario import count, cytopenic_patient, hook_request, prefetch_for

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory) -> PatientViewService:
    tmp = tmp_path_factory.mktemp("request-body")
    app = create_app(
        Settings(
            auth="disabled",
            database_url=f"sqlite:///{tmp / 'store.sqlite'}",
            demo_dir=Path(tmp) / "no-demo",
            as_of=date(2026, 3, 8),
        )
    )
    service: PatientViewService = app.state.runtime.handlers["cyto-patient-view"]
    return service


def _answer(handler: PatientViewService, parsed: Any) -> Any:
    try:
        return ("cards", asyncio.run(handler.handle(parsed)))
    except HookFailure as failure:
        return ("failure", failure.status, failure.outcome)


def _readings(raw: bytes) -> tuple[Any, Any]:
    try:
        plain = orjson.loads(raw)
    except orjson.JSONDecodeError:
        plain = "refused"
    try:
        lean = read_hook_body(raw)
    except orjson.JSONDecodeError:
        lean = "refused"
    return plain, lean


def _same_answer(handler: PatientViewService, body: Any) -> None:
    try:
        raw = orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits: orjson cannot write it, the standard library can
        raw = json.dumps(body).encode()
    plain, lean = _readings(raw)
    if plain == "refused":  # such an integer: orjson refuses the body, msgspec reads it; it still gets an answer
        if lean != "refused":
            _answer(handler, lean)
        return
    assert lean != "refused"
    assert _answer(handler, lean) == _answer(handler, plain)


def test_the_prefetched_lab_results_are_read_lean(handler: PatientViewService) -> None:
    body = hook_request(prefetch=prefetch_for(cytopenic_patient()))
    lean = read_hook_body(orjson.dumps(body))
    observations = lean["prefetch"]["observations"]
    assert isinstance(observations, SortedSearchset) and not observations.outcomes
    assert observations.resources and all(isinstance(r, LeanObservation) for r in observations.resources)
    assert lean["prefetch"]["patient"] == body["prefetch"]["patient"]
    answer = _answer(handler, lean)
    assert answer[0] == "cards" and answer[1]["cards"]  # a cytopenic patient on day 7 gets advice
    assert answer == _answer(handler, body)


def _variants() -> dict[str, Any]:
    base = prefetch_for(cytopenic_patient())
    out: dict[str, Any] = {}

    def variant(name: str) -> dict[str, Any]:
        out[name] = copy.deepcopy(base)
        prefetch: dict[str, Any] = out[name]
        return prefetch

    variant("next link")["observations"]["link"] = [{"relation": "next", "url": "http://x/fhir?page=2"}]
    variant("self link only")["observations"]["link"] = [{"relation": "self", "url": "http://x/fhir"}]
    error = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "diagnostics": "too costly"}]}
    variant("error outcome")["observations"]["entry"].append({"resource": error, "search": {"mode": "outcome"}})
    warning = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "diagnostics": "partial"}]}
    variant("warning outcome")["observations"]["entry"].append({"resource": warning, "search": {"mode": "outcome"}})
    variant("match modes")["observations"]["entry"][0]["search"] = {"mode": "match", "score": 1}
    variant("other patient")["observations"]["entry"].append({"resource": count("pt-2", "platelets", 7, 5.0)})
    elsewhere = {**count("pt-1", "platelets", 7, 5.0, n=9), "subject": None, "patient": {"reference": "Patient/x"}}
    variant("other patient via patient element")["observations"]["entry"].append({"resource": elsewhere})
    variant("observation outside its searchset")["procedures"]["entry"].append(
        {"resource": count("pt-1", "platelets", 6, 4.0, n=3)}
    )
    variant("entry without resource")["observations"]["entry"].append({"fullUrl": "urn:uuid:1"})
    variant("resource null")["observations"]["entry"].append({"resource": None})
    variant("resource junk")["observations"]["entry"].append({"resource": "Observation/1"})
    variant("entry junk")["observations"]["entry"].append(7)
    variant("search junk")["observations"]["entry"][0]["search"] = "match"
    variant("duplicate observation")["observations"]["entry"].append(copy.deepcopy(base["observations"]["entry"][0]))
    variant("observation as the patient")["patient"] = count("pt-1", "platelets", 7, 5.0)
    variant("outcome as the value")["observations"] = error
    variant("null value")["observations"] = None
    variant("observation odd")["observations"]["entry"][0]["resource"]["valueQuantity"]["value"] = True
    variant("unit unknown")["observations"]["entry"][1]["resource"]["valueQuantity"] = {"value": 3, "unit": "x"}
    no_obs = variant("observations key absent")
    del no_obs["observations"]
    return out


@pytest.mark.parametrize("name", sorted(_variants()))
def test_each_prefetch_variant_gets_one_answer(handler: PatientViewService, name: str) -> None:
    _same_answer(handler, hook_request(prefetch=_variants()[name]))


@SETTINGS
@given(
    key=st.sampled_from(["patient", "observations", "procedures", "conditions", "medicationAdministrations"]),
    value=json_values,
)
def test_junk_as_a_prefetch_value_gets_one_answer(handler: PatientViewService, key: str, value: Any) -> None:
    prefetch = prefetch_for(cytopenic_patient())
    prefetch[key] = value
    _same_answer(handler, hook_request(prefetch=prefetch))


@SETTINGS
@given(value=json_values, where=st.integers(min_value=0, max_value=6))
def test_junk_as_an_entry_resource_gets_one_answer(handler: PatientViewService, value: Any, where: int) -> None:
    prefetch = prefetch_for(cytopenic_patient())
    entries = prefetch["observations"]["entry"]
    entries.insert(min(where, len(entries)), {"resource": value})
    _same_answer(handler, hook_request(prefetch=prefetch))


@SETTINGS
@given(field=st.sampled_from(["hook", "hookInstance", "context", "prefetch", "fhirAuthorization"]), value=json_values)
def test_junk_in_the_envelope_gets_one_answer(handler: PatientViewService, field: str, value: Any) -> None:
    body = hook_request(prefetch=prefetch_for(cytopenic_patient()))
    body[field] = value
    _same_answer(handler, body)


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=120))
def test_any_bytes_are_read_alike(raw: bytes) -> None:
    plain, lean = _readings(raw)
    assert (plain == "refused") == (lean == "refused")
    if plain != "refused" and not isinstance(plain, dict):
        assert lean == plain


def _raw_answers(handler: PatientViewService, raw: bytes) -> tuple[Any, Any]:
    plain, lean = _readings(raw)
    plain_answer = plain if plain == "refused" else _answer(handler, plain)
    lean_answer = lean if lean == "refused" else _answer(handler, lean)
    return plain_answer, lean_answer


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"birthDate"', b'"note":"\xff","birthDate"'),  # in the Patient
        (b'"status":"final"', b'"note":[{"text":"M\xfcller"}],"status":"final"'),  # Latin-1, in a lab result
        (b'"hookInstance":"', b'"hookInstance":"\xc3'),  # in the envelope
    ],
    ids=["patient", "lab result", "envelope"],
)
def test_bytes_that_are_not_utf8_get_the_plain_400(handler: PatientViewService, old: bytes, new: bytes) -> None:
    raw = orjson.dumps(hook_request(prefetch=prefetch_for(cytopenic_patient()))).replace(old, new, 1)
    assert _raw_answers(handler, raw) == ("refused", "refused")


@pytest.mark.parametrize("where", ["lab result", "envelope"])
def test_nesting_deeper_than_msgspec_goes_gets_the_plain_answer(handler: PatientViewService, where: str) -> None:
    body = hook_request(prefetch=prefetch_for(cytopenic_patient()))
    if where == "lab result":
        body["prefetch"]["observations"]["entry"][0]["resource"]["extension"] = "DEEP"
    else:
        body["extension"] = "DEEP"
    raw = orjson.dumps(body).replace(b'"DEEP"', b"[" * 990 + b"]" * 990)
    plain, lean = _raw_answers(handler, raw)
    assert plain != "refused" and lean == plain


def test_an_observation_given_as_a_search_outcome_is_read_whole(handler: PatientViewService) -> None:
    """The prefetch checks read an outcome entry's issues whatever its resource type; lean would hide them."""
    prefetch = prefetch_for(cytopenic_patient())
    odd = {**count("pt-1", "platelets", 7, 5.0, n=5), "issue": [{"severity": "error", "diagnostics": "odd"}]}
    prefetch["observations"]["entry"].append({"resource": odd, "search": {"mode": "outcome"}})
    _same_answer(handler, hook_request(prefetch=prefetch))


@pytest.mark.parametrize(
    "extra",
    [
        b'"hook":"order-select",',  # a field twice: the last one counts, in both readings
        b'"prefetch":null,',  # prefetch twice, the first null
        b'"extension":{"com.example":[1,2]},',  # CDS Hooks' extension field: the one-pass reading keeps it
        b'"somethingElse":{"a":1},',  # a field CDS Hooks does not define: the two-pass reading keeps it
        b'"prefetch":[1],',  # a prefetch of another type, overridden by the real one after it
    ],
    ids=["field-twice", "prefetch-twice", "extension", "unknown-field", "prefetch-array-first"],
)
def test_every_envelope_shape_is_read_as_orjson_reads_it(handler: PatientViewService, extra: bytes) -> None:
    raw = orjson.dumps(hook_request(prefetch=prefetch_for(cytopenic_patient())))
    raw = b"{" + extra + raw[1:]
    lean = read_hook_body(raw)
    assert lean.keys() == orjson.loads(raw).keys()
    plain_answer, lean_answer = _raw_answers(handler, raw)
    assert lean_answer == plain_answer
