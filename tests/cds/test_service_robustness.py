"""Bad input gets a clear error, never a 500; nothing secret or identifying reaches the logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cds.scenario import cytopenic_patient, hook_request, prefetch_for

SERVICE = "/cds-services/cyto-patient-view"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(["hook", "hookInstance", "context", "prefetch", "fhirServer", "fhirAuthorization"]),
    value=json_values,
)
def test_any_field_replaced_by_junk_never_500(client: TestClient, field: str, value: Any) -> None:
    body = hook_request(prefetch=prefetch_for(cytopenic_patient()))
    body[field] = value
    r = client.post(SERVICE, content=json.dumps(body))
    assert r.status_code in (200, 400, 412), r.text
    assert r.json()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resource=json_values, key=st.sampled_from(["patient", "observations", "procedures", "conditions"]))
def test_junk_inside_prefetch_never_500(client: TestClient, resource: Any, key: str) -> None:
    prefetch = prefetch_for(cytopenic_patient())
    if key == "patient" or not isinstance(resource, dict):
        prefetch[key] = resource
    else:
        prefetch[key]["entry"].append({"resource": resource})
    r = client.post(SERVICE, content=json.dumps(hook_request(prefetch=prefetch)))
    assert r.status_code in (200, 400, 412), r.text


PREFETCH_SEARCHES = ["observations", "procedures", "conditions", "medicationAdministrations", "medicationStatements"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(PREFETCH_SEARCHES),
    element=st.sampled_from(["entry", "link", "type", "total", "resourceType", "meta"]),
    value=json_values,
)
def test_a_prefetched_bundle_with_an_element_of_any_type_never_500(
    client: TestClient, key: str, element: str, value: Any
) -> None:
    """Type-mutated Bundle elements (a searchset with `"entry": 5` or `"link": 7` used to answer 500)."""
    prefetch = prefetch_for(cytopenic_patient())
    prefetch[key][element] = value
    r = client.post(SERVICE, content=json.dumps(hook_request(prefetch=prefetch)))
    assert r.status_code in (200, 400, 412), r.text
    assert r.json()


@pytest.mark.parametrize("key", ["observations", "procedures", "medicationAdministrations"])
@pytest.mark.parametrize(("element", "value"), [("entry", 5), ("link", 7), ("entry", {"a": 1}), ("link", "x")])
def test_a_prefetched_bundle_whose_entry_or_link_is_no_list_is_not_used(
    client: TestClient, key: str, element: str, value: Any
) -> None:
    """Read as empty, its results (or its next page) would be lost without a word: a required search is then
    unusable, and with no FHIR server to fetch it from the answer is 412, never advice on half the data."""
    prefetch = prefetch_for(cytopenic_patient())
    prefetch[key][element] = value
    r = client.post(SERVICE, content=json.dumps(hook_request(prefetch=prefetch)))
    assert r.status_code == 412, r.text
    assert r.json()["resourceType"] == "OperationOutcome"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_never_500(client: TestClient, body: bytes) -> None:
    assert client.post(SERVICE, content=body).status_code in (400, 412)
    assert client.post(SERVICE + "/feedback", content=body).status_code == 400


def test_logs_carry_no_token_and_no_patient_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "tok-SECRET-do-not-log"
    body = hook_request(
        pid="pt-1",
        prefetch=prefetch_for(cytopenic_patient()),
        fhirServer="http://127.0.0.1:9/fhir",
        fhirAuthorization={
            "access_token": secret,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "s",
            "subject": "x",
        },
    )
    assert client.post(SERVICE, content=json.dumps(body)).status_code == 200
    assert client.post(SERVICE, content=orjson.dumps(hook_request(pid="pt-1"))).status_code == 412
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert secret not in text
    assert "pt-1" not in text


@pytest.mark.parametrize("key", ["conditions", "medicationStatements"])
def test_an_optional_search_sent_unreadable_is_said_on_a_card(client: TestClient, key: str) -> None:
    """Advice without it may miss a G-CSF charted as a MedicationStatement: the clinician is told, not left guessing."""
    prefetch = prefetch_for(cytopenic_patient())
    prefetch[key]["entry"] = 5
    r = client.post(SERVICE, content=json.dumps(hook_request(prefetch=prefetch)))
    assert r.status_code == 200, r.text
    details = [c["detail"] for c in r.json()["cards"] if "prefetch-unusable" in c["detail"]]
    assert len(details) == 1
    assert f"prefetch '{key}' could not be read (Bundle.entry is not a list)" in details[0]


def test_an_optional_search_not_sent_gets_no_card(client: TestClient) -> None:
    prefetch = prefetch_for(cytopenic_patient())
    del prefetch["conditions"]
    r = client.post(SERVICE, content=json.dumps(hook_request(prefetch=prefetch)))
    assert r.status_code == 200, r.text
    assert not [c for c in r.json()["cards"] if "prefetch-unusable" in c["detail"]]
