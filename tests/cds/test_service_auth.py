"""The app wired to real JWT verification: a signed ES384 token with the right audience passes on every
endpoint; anything else is a bare 401."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from cds_cyto.app import create_app
from cds_cyto.settings import Settings
from tests.cds.scenario import cytopenic_patient, hook_request, prefetch_for
from tests.cds.test_auth import JwksServer, auth_jwks_http

__all__ = ["auth_jwks_http"]  # the real local JWKS server fixture, shared with test_auth.py

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
        as_of=date(2026, 3, 8),
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


# --- issue 20: the CDS Hooks sandbox's token as the sandbox builds it (ES384, typ, kid, jku; no sub, no nbf) -------

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_KEY = ECKey.generate_key("P-384", parameters={"kid": SANDBOX_KID, "use": "sig", "alg": "ES384"}, private=True)


def sandbox_token(path: str, jku: str, key: ECKey = SANDBOX_KEY) -> str:
    now = round(time.time())
    claims = {"iss": SANDBOX_ISS, "aud": BASE + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": jku}
    return jwt.encode(header, claims, key, algorithms=["ES384"])


def sandbox_client(tmp_path: Path, issuer: dict[str, Any]) -> TestClient:
    settings = Settings(
        auth="required",
        public_base_url=BASE,
        trusted_issuers=json.dumps({SANDBOX_ISS: issuer}),
        database_url=f"sqlite:///{tmp_path / 's.sqlite'}",
        demo_dir=tmp_path / "none",
        as_of=date(2026, 3, 8),
    )
    return TestClient(create_app(settings))


@pytest.mark.parametrize("configured", ["jwks", "jwks_url", "jku"])
def test_sandbox_token_opens_discovery_whichever_way_its_keys_are_configured(
    tmp_path: Path, auth_jwks_http: JwksServer, configured: str
) -> None:
    auth_jwks_http.routes.clear()
    auth_jwks_http.hits.clear()
    auth_jwks_http.routes["/.well-known/jwks.json"] = {"keys": [SANDBOX_KEY.as_dict(private=False)]}
    url = auth_jwks_http.url("/.well-known/jwks.json")
    issuers: dict[str, dict[str, Any]] = {
        "jwks": {"jwks": {"keys": [SANDBOX_KEY.as_dict(private=False)]}},  # the token's jku is then ignored
        "jwks_url": {"jwks_url": url},  # the very URL the token's jku names
        "jku": {"jku": [url]},
    }
    issuer = issuers[configured]
    attacker = ECKey.generate_key("P-384", parameters={"kid": SANDBOX_KID}, private=True)
    auth_jwks_http.routes["/attacker"] = {"keys": [attacker.as_dict(private=False)]}
    with sandbox_client(tmp_path, issuer) as c:
        ok = c.get("/cds-services", headers=bearer(sandbox_token("/cds-services", url)))
        forged = sandbox_token("/cds-services", auth_jwks_http.url("/attacker"), attacker)
        refused = c.get("/cds-services", headers=bearer(forged))
    assert (ok.status_code, refused.status_code) == (200, 401)
    assert auth_jwks_http.hits["/attacker"] == 0


def test_two_authorization_headers_are_refused_even_if_one_is_valid(secured: TestClient) -> None:
    valid = f"Bearer {token('/cds-services')}"
    for pair in ([valid, "Bearer garbage"], ["Bearer garbage", valid], [valid, valid]):
        r = secured.get("/cds-services", headers=[("Authorization", v) for v in pair])
        assert r.status_code == 401, pair
    assert secured.get("/cds-services", headers=bearer(token("/cds-services"))).status_code == 200


@pytest.mark.parametrize(("setting", "accepted"), [(None, False), ("900", True), ("899", False)])
def test_the_maximum_token_lifetime_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str | None, accepted: bool
) -> None:
    """CDS_CYTO_TOKEN_MAX_LIFETIME_S as a site serving Epic sets it: Epic's tokens live 900 s, over the default 300."""
    for name, value in {
        "CDS_CYTO_AUTH": "required",
        "CDS_CYTO_PUBLIC_BASE_URL": BASE,
        "CDS_CYTO_TRUSTED_ISSUERS": json.dumps({ISS: {"jwks": {"keys": [KEY.as_dict(private=False)]}}}),
        "CDS_CYTO_DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite'}",
    }.items():
        monkeypatch.setenv(name, value)
    if setting is not None:
        monkeypatch.setenv("CDS_CYTO_TOKEN_MAX_LIFETIME_S", setting)
    with TestClient(create_app(Settings())) as client:
        now = int(time.time())
        r = client.get("/cds-services", headers=bearer(token("/cds-services", iat=now, exp=now + 900)))
    assert r.status_code == (200 if accepted else 401)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [10**400, -(10**400)])
def test_a_time_claim_too_large_for_a_float_is_a_401_not_a_500(secured: TestClient, claim: str, value: int) -> None:
    """Signed and valid JSON, yet no float: `math.isfinite` raised OverflowError, a 500 with a traceback."""
    r = secured.get("/cds-services", headers=bearer(token("/cds-services", **{claim: value})))
    assert (r.status_code, r.content) == (401, b"")
