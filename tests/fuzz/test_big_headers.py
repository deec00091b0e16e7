"""A 1 MB token gets a 431 OperationOutcome, not uvicorn's plain-text 400 (issue 15 item 8), through a real
`cds-cyto serve` process: its uvicorn lets a large head through to the app's `HeaderLimit`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cds_cyto.cds.header_limit import MAX_HEADER_BYTES, MAX_REQUEST_HEAD_BYTES
from tests.cds.scenario import cytopenic_patient, hook_request, prefetch_for
from tests.fuzz.run import SERVICE, serve_process


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_process(tmp_path_factory.mktemp("headers")) as base:
        yield base


def _outcome_code(r: httpx.Response) -> str:
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    code: str = body["issue"][0]["details"]["coding"][0]["code"]
    return code


@pytest.mark.parametrize("size", [MAX_HEADER_BYTES + 1, 1024 * 1024])
def test_an_oversized_authorization_header_is_a_431_outcome(service: str, size: int) -> None:
    token = "Bearer " + "a" * (size - len("Bearer "))
    for method, path in (("POST", SERVICE), ("GET", "/cds-services"), ("GET", "/healthz")):
        r = httpx.request(method, service + path, headers={"Authorization": token}, json=hook_request(), timeout=30)
        assert r.status_code == 431, (path, r.text[:200])
        assert r.headers["content-type"] == "application/fhir+json"
        assert _outcome_code(r) == "header-too-large"


def test_many_headers_together_are_a_431_outcome(service: str) -> None:
    headers = {f"X-Pad-{i}": "b" * 4000 for i in range(10)}  # each within the limit, 40 KB together
    r = httpx.get(service + "/cds-services", headers=headers, timeout=30)
    assert r.status_code == 431 and _outcome_code(r) == "header-too-large"


def test_a_header_at_the_limit_is_served(service: str) -> None:
    name = "X-Pad"
    r = httpx.post(
        service + SERVICE,
        headers={name: "c" * (MAX_HEADER_BYTES - len(name))},
        json=hook_request(prefetch=prefetch_for(cytopenic_patient())),
        timeout=30,
    )
    assert r.status_code == 200, r.text[:300]
    assert r.json()["cards"]


def test_a_head_beyond_what_uvicorn_buffers_is_still_refused_without_a_500(service: str) -> None:
    # Past MAX_REQUEST_HEAD_BYTES uvicorn may refuse it itself (its plain 400, when the head comes in pieces larger
    # than that), else the app's 431: a refusal either way, never a 500.
    r = httpx.get(service + "/healthz", headers={"X-Pad": "d" * (MAX_REQUEST_HEAD_BYTES + 1)}, timeout=30)
    assert r.status_code in (400, 431)
