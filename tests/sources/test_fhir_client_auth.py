"""Auth strategies: SMART backend services (signed client assertion, token cache), bearer tokens, no leaks."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, RSAKey

from cds_cyto.sources import BearerToken, FhirClient, FhirError, SmartBackendAuth
from tests.sources.conftest import BASE

TOKEN_URL = "https://auth.example.test/token"
SECRET = "s3cr3t-access-token-value"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def pem_pair(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[bytes, bytes]:
    private = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[bytes, bytes]:
    return pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def token_response(expires_in: int = 300, token: str = SECRET) -> httpx.Response:
    return httpx.Response(200, json={"access_token": token, "token_type": "bearer", "expires_in": expires_in})


def patient_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"resourceType": "Patient", "id": "p1"})


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_smart_backend_token_request_carries_a_verifiable_client_assertion(
    rsa_pem: tuple[bytes, bytes], fhir_mock: respx.MockRouter
) -> None:
    private, public = rsa_pem
    clock = Clock()
    token_route = fhir_mock.post(TOKEN_URL).mock(return_value=token_response())
    fhir_route = fhir_mock.get("/Patient/p1").mock(side_effect=patient_ok)
    auth = SmartBackendAuth(TOKEN_URL, "cds-cyto", private, "key-1", scope="system/*.rs", clock=clock)
    async with FhirClient(BASE, auth) as client:
        await client.read("Patient", "p1")

    form = form_of(token_route.calls.last.request)
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "system/*.rs"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    decoded = jwt.decode(form["client_assertion"], RSAKey.import_key(public), algorithms=["RS384"])
    assert decoded.header == {"alg": "RS384", "kid": "key-1", "typ": "JWT"}
    claims: dict[str, Any] = decoded.claims
    assert claims["iss"] == claims["sub"] == "cds-cyto"
    assert claims["aud"] == TOKEN_URL
    assert claims["exp"] == int(clock.now) + 300
    assert len(claims["jti"]) >= 16
    assert fhir_route.calls.last.request.headers["Authorization"] == f"Bearer {SECRET}"


async def test_assertion_signed_with_another_key_does_not_verify(rsa_pem: tuple[bytes, bytes]) -> None:
    private, _ = rsa_pem
    _, other_public = pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assertion = SmartBackendAuth(TOKEN_URL, "c", private, "k", scope="system/*.rs").client_assertion()
    with pytest.raises(BadSignatureError):
        jwt.decode(assertion, RSAKey.import_key(other_public), algorithms=["RS384"])


async def test_es384_assertion() -> None:
    private, public = pem_pair(ec.generate_private_key(ec.SECP384R1()))
    auth = SmartBackendAuth(TOKEN_URL, "c", private, "k", scope="system/*.rs", alg="ES384")
    decoded = jwt.decode(auth.client_assertion(), ECKey.import_key(public), algorithms=["ES384"])
    assert decoded.header["alg"] == "ES384"


def test_wrong_key_for_the_algorithm_fails_at_configuration(rsa_pem: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError, match="not a ES384 private key"):
        SmartBackendAuth(TOKEN_URL, "c", rsa_pem[0], "k", scope="system/*.rs", alg="ES384")


async def test_token_is_cached_until_shortly_before_expiry(
    rsa_pem: tuple[bytes, bytes], fhir_mock: respx.MockRouter
) -> None:
    clock = Clock()
    token_route = fhir_mock.post(TOKEN_URL).mock(return_value=token_response(expires_in=300))
    fhir_mock.get("/Patient/p1").mock(side_effect=patient_ok)
    auth = SmartBackendAuth(TOKEN_URL, "c", rsa_pem[0], "k", scope="system/*.rs", clock=clock)
    async with FhirClient(BASE, auth) as client:
        for _ in range(3):
            await client.read("Patient", "p1")
        assert token_route.call_count == 1
        clock.now += 269  # refresh margin: a tenth of the lifetime
        await client.read("Patient", "p1")
        assert token_route.call_count == 1
        clock.now += 2
        await client.read("Patient", "p1")
        assert token_route.call_count == 2
        assert client.stats.requests == 7  # five reads and two token requests


async def test_401_fetches_a_new_token_once(rsa_pem: tuple[bytes, bytes], fhir_mock: respx.MockRouter) -> None:
    token_route = fhir_mock.post(TOKEN_URL).mock(
        side_effect=[token_response(token="revoked"), token_response(token="fresh")]
    )
    fhir_mock.get("/Patient/p1").mock(
        side_effect=lambda request: (
            patient_ok(request) if request.headers["Authorization"] == "Bearer fresh" else httpx.Response(401)
        )
    )
    auth = SmartBackendAuth(TOKEN_URL, "c", rsa_pem[0], "k", scope="system/*.rs")
    async with FhirClient(BASE, auth) as client:
        await client.read("Patient", "p1")
    assert token_route.call_count == 2


async def test_token_endpoint_refusal_is_a_clear_fhir_error(
    rsa_pem: tuple[bytes, bytes], fhir_mock: respx.MockRouter
) -> None:
    fhir_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(400, json={"error": "invalid_client", "error_description": "unknown kid"})
    )
    auth = SmartBackendAuth(TOKEN_URL, "c", rsa_pem[0], "k", scope="system/*.rs")
    async with FhirClient(BASE, auth) as client:
        with pytest.raises(FhirError, match=r"token: HTTP 400$") as caught:
            await client.read("Patient", "p1")
    assert caught.value.for_operator() == "token: HTTP 400: invalid_client: unknown kid"


async def test_no_token_or_patient_id_in_logs(
    rsa_pem: tuple[bytes, bytes], fhir_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    patient_id = "pat-7781"
    fhir_mock.post(TOKEN_URL).mock(return_value=token_response())
    fhir_mock.get(f"/Patient/{patient_id}").mock(
        side_effect=[httpx.Response(503), httpx.Response(404, json={"resourceType": "OperationOutcome"})]
    )
    auth = SmartBackendAuth(TOKEN_URL, "c", rsa_pem[0], "k", scope="system/*.rs")
    async with FhirClient(BASE, auth, sleep=lambda s: _no_wait()) as client:
        with pytest.raises(FhirError):
            await client.read("Patient", patient_id)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("cds_cyto")]
    assert ours  # the client did log: statuses and timings
    assert not any(SECRET in m or patient_id in m for m in ours)
    assert not any(SECRET in r.getMessage() for r in caplog.records)  # nor httpx/httpcore
    assert SECRET not in repr(BearerToken(SECRET))


async def _no_wait() -> None:
    return None
