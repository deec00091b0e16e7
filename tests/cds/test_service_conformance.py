"""CDS Hooks 2.0 conformance: discovery, request handling, cards, feedback (auth disabled here; see test_auth)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, TypedDict, Unpack

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cds_cyto.app import create_app
from cds_cyto.settings import Settings
from tests.cds.scenario import cytopenic_patient, hook_request, prefetch_for

SERVICE = "/cds-services/cyto-patient-view"


def call(client: TestClient, body: Any) -> Any:
    return client.post(SERVICE, content=orjson.dumps(body), headers={"Content-Type": "application/json"})


class Counts(TypedDict, total=False):
    anc: float
    hb: float
    plt: float


def cards_of(client: TestClient, **counts: Unpack[Counts]) -> list[dict[str, Any]]:
    r = call(client, hook_request(prefetch=prefetch_for(cytopenic_patient(**counts))))
    assert r.status_code == 200, r.text
    cards: list[dict[str, Any]] = r.json()["cards"]
    return cards


# --- discovery ---------------------------------------------------------------------------------------------------


def test_discovery_lists_the_service_with_required_fields(client: TestClient) -> None:
    r = client.get("/cds-services")
    assert r.status_code == 200
    services = r.json()["services"]
    assert [s["id"] for s in services] == ["cyto-patient-view"]
    s = services[0]
    assert s["hook"] == "patient-view"
    assert isinstance(s["description"], str) and s["description"]
    assert set(s) <= {"hook", "title", "description", "id", "prefetch", "usageRequirements", "extension"}


def test_discovery_prefetch_templates_use_only_2_0_tokens(client: TestClient) -> None:
    prefetch = client.get("/cds-services").json()["services"][0]["prefetch"]
    assert set(prefetch) == {
        "patient",
        "observations",
        "procedures",
        "conditions",
        "medicationAdministrations",
        "medicationStatements",
    }
    for template in prefetch.values():
        assert "{{context.patientId}}" in template
        assert "today()" not in template and "${" not in template  # no date tokens, placeholders expanded
    assert "http://loinc.org|751-8" in prefetch["observations"]
    assert "_sort=-date" in prefetch["observations"]


def test_discovery_is_deterministic(client: TestClient) -> None:
    assert client.get("/cds-services").content == client.get("/cds-services").content


# --- cards ---------------------------------------------------------------------------------------------------------


def test_cards_for_severe_pancytopenia(client: TestClient) -> None:
    cards = cards_of(client)
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert topics == ["gcsf-therapeutic", "rbc-transfusion", "platelet-transfusion"]
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]
        assert card["source"]["topic"]["system"] == "urn:cds-cyto:recommendation"
        assert card["source"]["url"].startswith("http")
        uuid.UUID(card["uuid"])
        assert "**Evidence**" in card["detail"] and "**Source**" in card["detail"]
        assert "day +7" in card["summary"]
        assert card["selectionBehavior"] == "at-most-one"
        for s in card["suggestions"]:
            assert s["label"] and s["actions"]
            for action in s["actions"]:
                assert action["type"] == "create" and action["description"]
        for reason in card["overrideReasons"]:
            assert reason["system"] and reason["code"] and reason["display"]


def test_optional_fields_are_omitted_never_null_or_empty(client: TestClient) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                assert value is not None and value not in ([], {}, "")
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(cards_of(client))


def test_card_uuid_is_stable_for_the_same_patient_recommendation_and_day(client: TestClient) -> None:
    assert [c["uuid"] for c in cards_of(client)] == [c["uuid"] for c in cards_of(client)]


def test_no_cards_is_an_empty_list(client: TestClient) -> None:
    assert cards_of(client, anc=3.0, hb=120.0, plt=200.0) == []


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"anc": 0.49, "hb": 120.0, "plt": 200.0}, ["gcsf-therapeutic"]),
        ({"anc": 0.5, "hb": 120.0, "plt": 200.0}, []),
        ({"anc": 3.0, "hb": 59.9, "plt": 200.0}, ["rbc-transfusion"]),
        ({"anc": 3.0, "hb": 60.0, "plt": 200.0}, []),
        ({"anc": 3.0, "hb": 120.0, "plt": 19.9}, ["platelet-transfusion"]),
        ({"anc": 3.0, "hb": 120.0, "plt": 20.0}, []),
    ],
)
def test_treatment_thresholds_at_their_boundaries(client: TestClient, counts: Counts, expected: list[str]) -> None:
    assert [c["source"]["topic"]["code"] for c in cards_of(client, **counts)] == expected


def test_suggested_resources_validate_as_fhir_r4(client: TestClient) -> None:
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.servicerequest import ServiceRequest

    models: dict[str, type[BaseModel]] = {"MedicationRequest": MedicationRequest, "ServiceRequest": ServiceRequest}
    for card in cards_of(client):
        for s in card["suggestions"]:
            for action in s["actions"]:
                resource = action["resource"]
                models[resource["resourceType"]].model_validate(resource)
                assert resource["status"] == "draft" and resource["subject"] == {"reference": "Patient/pt-1"}


def test_data_quality_card_when_results_cannot_be_used(client: TestClient) -> None:
    resources = cytopenic_patient(anc=3.0, hb=120.0, plt=200.0)
    resources[-1]["valueQuantity"]["unit"] = "thingies"
    resources[-1]["valueQuantity"]["code"] = "thingies"
    r = call(client, hook_request(prefetch=prefetch_for(resources)))
    cards = r.json()["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["data-quality"]
    assert "unit-unknown" in cards[0]["summary"]


# --- request handling ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expression"),
    [
        (lambda b: b.pop("hook"), "hook"),
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.pop("context"), "context"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].pop("userId"), "context.userId"),
        (lambda b: b.update(fhirServer="not a url"), "fhirServer"),
        (lambda b: b.update(prefetch=[1, 2]), "prefetch"),
        (lambda b: b.update(hook="order-sign"), "hook"),
        (lambda b: b["context"].update(patientId="a/../b?x=1"), "context.patientId"),
    ],
)
def test_invalid_requests_get_400_naming_the_field(client: TestClient, mutate: Any, expression: str) -> None:
    body = hook_request(prefetch=prefetch_for(cytopenic_patient()))
    mutate(body)
    r = call(client, body)
    assert r.status_code == 400
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [expression]


def test_fhir_authorization_without_fhir_server_is_400(client: TestClient) -> None:
    body = hook_request(
        prefetch=prefetch_for(cytopenic_patient()),
        fhirAuthorization={
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "x",
            "subject": "s",
        },
    )
    assert call(client, body).status_code == 400


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post(SERVICE, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "invalid-json"


def test_unknown_service_is_404(client: TestClient) -> None:
    assert client.post("/cds-services/nope", content=b"{}").status_code == 404


def test_no_prefetch_and_no_fhir_server_is_412(client: TestClient) -> None:
    r = call(client, hook_request())
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome"


def test_a_patient_the_demo_cohort_lacks_is_412_patient_not_found(service_settings: Settings, tmp_path: Path) -> None:
    """Nothing prefetched, no fhirServer: the embedded demo source is asked and has no such patient."""
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "someone.json").write_bytes(
        orjson.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in cytopenic_patient("someone")],
            }
        )
    )
    with TestClient(create_app(service_settings.model_copy(update={"demo": True, "demo_dir": demo}))) as client:
        known = call(client, hook_request(pid="someone"))
        unknown = call(client, hook_request(pid="nobody"))
    assert known.status_code == 200, known.text
    assert unknown.status_code == 412
    assert unknown.json()["issue"][0]["details"]["coding"][0]["code"] == "patient-not-found"


def test_operation_outcome_prefetch_without_fhir_server_is_412(client: TestClient) -> None:
    prefetch = prefetch_for(cytopenic_patient())
    prefetch["observations"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    assert call(client, hook_request(prefetch=prefetch)).status_code == 412


def test_prefetch_of_another_patient_never_gives_advice(client: TestClient) -> None:
    prefetch = prefetch_for(cytopenic_patient(pid="someone-else"))
    r = call(client, hook_request(pid="pt-1", prefetch=prefetch))
    assert r.status_code in (400, 412)
    assert "cards" not in r.json()


# --- feedback ------------------------------------------------------------------------------------------------------


def test_feedback_round_trip(client: TestClient) -> None:
    card = cards_of(client)[0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-03-08T10:00:00Z",
            },
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "given this morning"},
                "outcomeTimestamp": "2026-03-08T10:05:00Z",
            },
        ]
    }
    r = client.post(SERVICE + "/feedback", content=orjson.dumps(feedback))
    assert r.status_code == 200
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    rows = store.feedback()
    assert [(row.card_uuid, row.outcome) for row in rows] == [(card["uuid"], "overridden"), (card["uuid"], "accepted")]
    assert rows[1].accepted_suggestions == [card["suggestions"][0]["uuid"]]
    assert rows[0].override_reason["code"] == "already-addressed"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"feedback": []},
        {"feedback": [{"card": "x", "outcome": "maybe", "outcomeTimestamp": "2026-03-08T10:00:00Z"}]},
        {"feedback": [{"card": "x", "outcome": "accepted"}]},
        {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "yesterday"}]},
    ],
)
def test_invalid_feedback_is_400(client: TestClient, body: Any) -> None:
    assert client.post(SERVICE + "/feedback", content=orjson.dumps(body)).status_code == 400


# --- operations ----------------------------------------------------------------------------------------------------


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_request_id_is_echoed(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abcdef0123456789"})
    assert r.headers["X-Request-ID"] == "abcdef0123456789"


def test_rule_page(client: TestClient) -> None:
    r = client.get("/recommendations/gcsf-therapeutic")
    assert r.status_code == 200 and "anc_below" in r.text


def test_an_oversized_override_reason_is_400_and_not_stored(client: TestClient) -> None:
    """overrideReason was stored unbounded (three requests: 90 MB); now 8 KB at most, extra members included."""
    item = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-03-08T10:00:00Z"}
    huge = {"feedback": [{**item, "overrideReason": {"reason": {"code": "x", "display": "y" * 20_000}}}]}
    extra = {"feedback": [{**item, "overrideReason": {"userComment": "ok", "padding": "z" * 20_000}}]}
    for body in (huge, extra):
        r = client.post(SERVICE + "/feedback", content=orjson.dumps(body))
        assert r.status_code == 400
        assert r.json()["resourceType"] == "OperationOutcome"
        assert "z" * 100 not in r.text and "y" * 100 not in r.text  # the input is not echoed back
    fine = {"feedback": [{**item, "overrideReason": {"reason": {"code": "x"}, "userComment": "c" * 4000}}]}
    assert client.post(SERVICE + "/feedback", content=orjson.dumps(fine)).status_code == 200
