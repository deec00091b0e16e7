"""The app wired to real JWT verification: a signed ES384 token with the right audience passes on every
endpoint; anything else is a bare 401."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from cds_cyto.cds.app import create_app
from cds_cyto.settings import Settings
from tests.cds.scenario import cytopenic_patient, hook_request, prefetch_for

ISS = "https://ehr.example.org"
BASE = "https://cds.example.org"
KEY = ECKey.generate_key("P-384", parameters={"kid": "ehr-key-1"}, private=True)


def token(path: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISS,
        "sub": "ehr-client",
        "aud": BASE + path,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    return jwt.encode({"alg": "ES384", "kid": "ehr-key-1", "typ": "JWT"}, payload, KEY, algorithms=["ES384"])


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    public = KEY.as_dict(private=False)
    settings = Settings(
        auth="required",
        public_base_url=BASE,
        trusted_issuers=json.dumps({ISS: {"jwks": {"keys": [public]}}}),
        database_url=f"sqlite:///{tmp_path / 's.sqlite'}",
        demo_dir=tmp_path / "none",
        as_of="2026-03-08",
    )
    with TestClient(create_app(settings)) as c:
        yield c


def bearer(t: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


def test_signed_token_opens_every_endpoint(secured: TestClient) -> None:
    assert secured.get("/cds-services", headers=bearer(token("/cds-services"))).status_code == 200
    path = "/cds-services/cyto-patient-view"
    body = orjson.dumps(hook_request(prefetch=prefetch_for(cytopenic_patient())))
    r = secured.post(path, content=body, headers=bearer(token(path)))
    assert r.status_code == 200 and r.json()["cards"]
    feedback = {
        "feedback": [
            {"card": r.json()["cards"][0]["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-03-08T10:00:00Z"}
        ]
    }
    fpath = path + "/feedback"
    assert secured.post(fpath, content=orjson.dumps(feedback), headers=bearer(token(fpath))).status_code == 200
    assert secured.app.state.runtime.store.feedback()[0].client == ISS  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        bearer(token("/cds-services/cyto-patient-view")),  # audience of another endpoint
        bearer(token("/cds-services", exp=int(time.time()) - 3600)),
        bearer(token("/cds-services", iss="https://evil.example")),
    ],
)
def test_anything_else_is_a_bare_401(secured: TestClient, headers: dict[str, str]) -> None:
    r = secured.get("/cds-services", headers=headers)
    assert r.status_code == 401
    assert r.content == b""
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_replayed_token_is_refused(secured: TestClient) -> None:
    t = token("/cds-services")
    assert secured.get("/cds-services", headers=bearer(t)).status_code == 200
    assert secured.get("/cds-services", headers=bearer(t)).status_code == 401


def test_health_needs_no_token(secured: TestClient) -> None:
    assert secured.get("/healthz").status_code == 200
