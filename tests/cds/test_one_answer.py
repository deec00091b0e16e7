"""One patient, one answer, whatever the door (issue 12): the hook (prefetch, demo source), `cds-cyto evaluate`
(a subprocess) and the core read Bundles one way — references by urn:uuid, the newest version of a resource, drugs
by reference — and never use another patient's data."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.settings import Settings
from tests.cds.scenario import (
    count,
    cytopenic_patient,
    filgrastim,
    gcsf_by_reference,
    hook_request,
    prefetch_for,
    searchset,
)

SERVICE = "/cds-services/cyto-patient-view"
AS_OF = "2026-03-08"  # day +7, the service settings' date
ROOT = Path(__file__).resolve().parents[2]


def call(client: TestClient, body: Any) -> Any:
    return client.post(SERVICE, content=orjson.dumps(body), headers={"Content-Type": "application/json"})


def gcsf_card(cards: list[dict[str, Any]]) -> dict[str, Any]:
    (card,) = [c for c in cards if c["source"]["topic"]["code"] == "gcsf-therapeutic"]
    return card


def transaction_with_urn_uuids(pid: str = "pt-1") -> dict[str, Any]:
    """The G-CSF scenario as a transaction Bundle: entries named by urn:uuid fullUrls, the Medication without an id
    and the administrations pointing at it by its urn:uuid."""
    med_url = "urn:uuid:7a1c5e2e-6d4b-4a53-9a3e-3a3f1c1b0002"
    medication = filgrastim()
    del medication["id"]
    resources = [*cytopenic_patient(pid), medication, *gcsf_by_reference(pid, range(5, 7), med_url)]
    entries = []
    for n, r in enumerate(resources):
        url = med_url if r is medication else f"urn:uuid:7a1c5e2e-6d4b-4a53-9a3e-{n:012d}"
        entries.append({"fullUrl": url, "resource": r, "request": {"method": "POST", "url": r["resourceType"]}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def evaluate_cli(path: Path) -> Any:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "cds_cyto", "evaluate", str(path), "--as-of", AS_OF, "--format", "json"],
        capture_output=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assessment: dict[str, Any] = orjson.loads(done.stdout)
    return assessment


def recommendation(assessment: dict[str, Any], code: str) -> dict[str, Any]:
    recs: list[dict[str, Any]] = [r for r in assessment["recommendations"] if r["code"] == code]
    (rec,) = recs
    return rec


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir()
    return folder


def demo_client(settings: Settings, folder: Path) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"demo": True, "demo_dir": folder})))


def test_a_urn_uuid_medication_is_g_csf_given_through_the_hook_and_the_cli(
    service_settings: Settings, demo: Path
) -> None:
    path = demo / "pt-1.json"
    path.write_bytes(orjson.dumps(transaction_with_urn_uuids()))
    with demo_client(service_settings, demo) as client:
        r = call(client, hook_request())
    assert r.status_code == 200, r.text
    card = gcsf_card(r.json()["cards"])
    assert "G-CSF already given" in card["summary"]
    cli = recommendation(evaluate_cli(path), "gcsf-therapeutic")
    assert cli["summary"] == card["summary"]  # one answer through both doors


def test_the_newest_version_is_graded_by_prefetch_and_fetch(service_settings: Settings, demo: Path) -> None:
    """Older (0.3, version 1) first, the amended newer (0.7, version 2) after it: 0.7 is graded, no G-CSF card."""
    older = count("pt-1", "neutrophils", 7, 0.3)
    older["meta"] = {"versionId": "1", "lastUpdated": "2026-03-08T09:00:00+01:00"}
    newer = copy.deepcopy(older)
    newer["valueQuantity"]["value"] = 0.7
    newer["status"] = "amended"
    newer["meta"] = {"versionId": "2", "lastUpdated": "2026-03-08T11:00:00+01:00"}
    resources = [r for r in cytopenic_patient() if r.get("id") != older["id"]] + [older, newer]
    prefetch = prefetch_for(resources)
    (demo / "pt-1.json").write_bytes(orjson.dumps(searchset(resources)))
    with demo_client(service_settings, demo) as client:
        prefetched = call(client, hook_request(prefetch=prefetch))
        fetched = call(client, hook_request())  # nothing prefetched: the demo source
    for answer in (prefetched, fetched):
        assert answer.status_code == 200, answer.text
        topics = [c["source"]["topic"]["code"] for c in answer.json()["cards"]]
        assert "gcsf-therapeutic" not in topics, topics


def test_an_administration_whose_medication_was_not_included_is_never_read_as_not_given(client: TestClient) -> None:
    """Many EHRs ignore _include in prefetch: G-CSF for four days by medicationReference, no Medication, no server
    to read it from. The card must not offer G-CSF as if none was given."""
    prefetch = prefetch_for(cytopenic_patient() + gcsf_by_reference("pt-1", range(3, 7)))
    r = call(client, hook_request(prefetch=prefetch))
    assert r.status_code == 200, r.text
    card = gcsf_card(r.json()["cards"])
    assert "consider therapeutic G-CSF" not in card["summary"]
    assert "check whether G-CSF was given" in card["summary"]
    assert "MedicationAdministration/pt-1-gcsf-6" in card["detail"]
    assert "could not be identified" in card["detail"]
    assert card["indicator"] == "warning"
    assert "suggestions" not in card  # no draft filgrastim order until someone checked


def test_a_medication_in_the_prefetch_identifies_the_drug(client: TestClient) -> None:
    resources = cytopenic_patient() + gcsf_by_reference("pt-1", range(3, 7)) + [filgrastim()]
    prefetch = prefetch_for(resources)
    prefetch["medicationAdministrations"]["entry"].append({"resource": filgrastim(), "search": {"mode": "include"}})
    r = call(client, hook_request(prefetch=prefetch))
    assert r.status_code == 200, r.text
    assert "G-CSF already given" in gcsf_card(r.json()["cards"])["summary"]


def test_evaluate_on_a_two_patient_bundle_gives_one_assessment_per_patient(tmp_path: Path) -> None:
    """pt-2 is not cytopenic and had G-CSF: none of it may reach pt-1's assessment, nor pt-1's reach pt-2's."""
    two = cytopenic_patient("pt-1") + cytopenic_patient("pt-2", anc=3.0, hb=120.0, plt=200.0)
    two += [filgrastim(), *gcsf_by_reference("pt-2", range(5, 7))]
    path = tmp_path / "two.json"
    path.write_bytes(orjson.dumps(searchset(two)))
    out = evaluate_cli(path)
    assert [a["patient_id"] for a in out] == ["pt-1", "pt-2"]
    one, other = out
    assert "consider therapeutic G-CSF" in recommendation(one, "gcsf-therapeutic")["summary"]
    assert not [r for r in other["recommendations"] if r["code"] == "gcsf-therapeutic"]
    for a in out:
        assert "several-patients" not in [p["code"] for p in a["data_problems"]]


def test_the_demo_source_answers_each_patient_of_a_shared_file_alone(service_settings: Settings, demo: Path) -> None:
    two = cytopenic_patient("pt-1") + cytopenic_patient("pt-2", anc=3.0, hb=120.0, plt=200.0)
    two += [filgrastim(), *gcsf_by_reference("pt-2", range(5, 7))]
    (demo / "both.json").write_bytes(orjson.dumps(searchset(two)))
    with demo_client(service_settings, demo) as client:
        one, other = call(client, hook_request("pt-1")), call(client, hook_request("pt-2"))
    assert one.status_code == other.status_code == 200, (one.text, other.text)
    assert "consider therapeutic G-CSF" in gcsf_card(one.json()["cards"])["summary"]
    assert [c["source"]["topic"]["code"] for c in other.json()["cards"]] == []
