"""The CDS service end to end against the real server: what the EHR did not prefetch is fetched from its FHIR
server (fhirServer + fhirAuthorization), and the cards are the ones a full prefetch gives. The CLI too."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.cli import main
from cds_cyto.settings import Settings
from tests.cds.scenario import hook_request, prefetch_for
from tests.integration.helpers import AS_OF, BIG_OBSERVATIONS, CytopenicPatient, LoadedPatients, TcpProxy, unique_id

pytestmark = pytest.mark.hapi

SERVICE = "/cds-services/cyto-patient-view"
TOKEN = "integration-test-token-" + "x" * 16
EXPECTED_TOPICS = ["gcsf-therapeutic", "rbc-transfusion", "platelet-transfusion"]  # severe pancytopenia, day +7


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        auth="disabled",
        database_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
        demo_dir=tmp_path / "no-demo",  # no embedded cohort: data come from the prefetch or fhirServer only
        as_of=AS_OF,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def authorization(pid: str) -> dict[str, Any]:
    return {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-cyto",
        "patient": pid,
    }


def call(service: TestClient, body: dict[str, Any]) -> tuple[int, Any]:
    answer = service.post(SERVICE, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    return answer.status_code, answer.json()


def cards_from_full_prefetch(service: TestClient, patient: CytopenicPatient) -> list[dict[str, Any]]:
    status, body = call(service, hook_request(patient.pid, prefetch=prefetch_for(patient.resources)))
    assert status == 200, body
    assert [c["source"]["topic"]["code"] for c in body["cards"]] == EXPECTED_TOPICS
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def test_partial_prefetch_is_completed_from_the_fhir_server(
    service: TestClient, cytopenic: CytopenicPatient, hapi_url: str
) -> None:
    expected = cards_from_full_prefetch(service, cytopenic)
    full = prefetch_for(cytopenic.resources)
    partial = {"patient": full["patient"], "procedures": full["procedures"]}  # no observations key at all
    with TcpProxy(hapi_url) as proxy:  # in front of HAPI only to see what the service sent
        body = hook_request(
            cytopenic.pid,
            prefetch=partial,
            fhirServer=proxy.base_url,
            fhirAuthorization=authorization(cytopenic.pid),
        )
        status, answer = call(service, body)
    assert status == 200, answer
    assert answer["cards"] == expected
    sent = bytes(proxy.sent_up).lower()
    # HAPI offers batch (its CapabilityStatement): the missing keys go as one batch POST, Observations among them
    assert b"post /fhir" in sent
    assert b'"url":"observation?patient=' + cytopenic.pid.encode() in sent
    assert b"get /fhir/patient/" not in sent  # the prefetched Patient was used, not fetched again
    assert sent.count(b"authorization: bearer " + TOKEN.lower().encode()) == sent.count(b" http/1.1\r\n") > 0


def test_no_prefetch_at_all_fetches_everything_from_the_fhir_server(
    service: TestClient, cytopenic: CytopenicPatient, hapi_url: str
) -> None:
    expected = cards_from_full_prefetch(service, cytopenic)
    status, answer = call(
        service,
        hook_request(cytopenic.pid, fhirServer=hapi_url, fhirAuthorization=authorization(cytopenic.pid)),
    )
    assert status == 200, answer
    assert answer["cards"] == expected


def test_a_large_patient_fetched_from_the_fhir_server(
    service: TestClient, loaded: LoadedPatients, hapi_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """1,500 Observations: the service's own search asks for CDS_CYTO_FHIR_PAGE_SIZE (2000), one page. (This
    patient gets no card on day +7; the log shows that every Observation arrived.)"""
    from_file = orjson.loads(loaded.big_file.read_bytes())
    resources = [e["resource"] for e in from_file["entry"]]
    status, prefetched = call(service, hook_request(loaded.big, prefetch=prefetch_for(resources)))
    assert status == 200, prefetched
    with caplog.at_level(logging.INFO, logger="cds_cyto.cds"):
        status, fetched = call(service, hook_request(loaded.big, fhirServer=hapi_url))
    assert status == 200, fetched
    assert fetched == prefetched
    # the prefetched call above was answered in a pool process, whose log records reach this process a moment
    # later: this call's gathering is the one that fetched
    gathered = [r for r in caplog.records if r.getMessage() == "data gathered" and getattr(r, "fetched", None)]
    assert len(gathered) == 1
    assert gathered[0].resources == BIG_OBSERVATIONS + 2  # type: ignore[attr-defined]
    assert "observations" in gathered[0].fetched  # type: ignore[attr-defined]


def test_unknown_patient_is_412(service: TestClient, hapi_url: str) -> None:
    nobody = unique_id("nobody")
    status, answer = call(service, hook_request(nobody, fhirServer=hapi_url, fhirAuthorization=authorization(nobody)))
    assert status == 412
    assert answer["resourceType"] == "OperationOutcome"
    issue = answer["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "patient-not-found"  # the read of Patient/id gave 404
    assert "patient" in issue["diagnostics"]


def _cli_json(argv: list[str]) -> bytes:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    with contextlib.redirect_stdout(out):
        code = main(argv)  # `evaluate --format json` writes to sys.stdout.buffer
    out.flush()
    assert code == 0
    return raw.getvalue()


def test_cli_evaluate_from_the_server_equals_from_the_file(hapi_url: str, loaded: LoadedPatients) -> None:
    common = ["--format", "json", "--as-of", AS_OF.isoformat()]
    from_server = _cli_json(["evaluate", "--fhir", hapi_url, "--patient", loaded.big, *common])
    from_file = _cli_json(["evaluate", str(loaded.big_file), *common])
    assert from_server == from_file
    assert orjson.loads(from_server)["patient_id"] == loaded.big
