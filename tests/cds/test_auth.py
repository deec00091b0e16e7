"""CDS client authentication: real keys and signatures, and a real local HTTP server publishing the JWK Sets.

Tokens are signed here with `cryptography` directly, not with joserfc, so the code under test is not checked
against itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import RSAKey

from cds_cyto.cds.auth import AuthError, ClientAuthenticator, _ReplayCache, _verify_signature, parse_trusted_issuers

ISS = "https://ehr.example.org/fhir"
AUD = "https://cds.example.org/cds-services/cyto-patient-view"
START = 1_700_000_000.0

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


# --- keys, JWKs and tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    ec384: ec.EllipticCurvePrivateKey
    ec256: ec.EllipticCurvePrivateKey
    rsa2048: rsa.RSAPrivateKey
    rsa1024: rsa.RSAPrivateKey
    impostor: ec.EllipticCurvePrivateKey  # another P-384 key, published nowhere


@pytest.fixture(scope="module")
def auth_keys() -> Keys:
    return Keys(
        ec384=ec.generate_private_key(ec.SECP384R1()),
        ec256=ec.generate_private_key(ec.SECP256R1()),
        rsa2048=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa1024=rsa.generate_private_key(public_exponent=65537, key_size=1024),
        impostor=ec.generate_private_key(ec.SECP384R1()),
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(value: int, size: int | None = None) -> str:
    return b64(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


def jwk(private: PrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    if isinstance(private, rsa.RSAPrivateKey):
        nums = private.public_key().public_numbers()
        return {"kty": "RSA", "kid": kid, "n": b64int(nums.n), "e": b64int(nums.e), **extra}
    pub = private.public_key().public_numbers()
    size = (private.curve.key_size + 7) // 8
    crv = {"secp384r1": "P-384", "secp256r1": "P-256"}[private.curve.name]
    return {"kty": "EC", "kid": kid, "crv": crv, "x": b64int(pub.x, size), "y": b64int(pub.y, size), **extra}


def jwks(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(keys)}


def sign(header: dict[str, Any], claims: dict[str, Any], key: PrivateKey | bytes | None, alg: str = "") -> str:
    alg = alg or header["alg"]  # `alg`: sign with this one whatever the header claims
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    msg = signing_input.encode()
    if key is None:  # alg "none"
        sig = b""
    elif isinstance(key, bytes):  # HMAC with whatever secret the attacker picked
        sig = hmac.new(key, msg, getattr(hashlib, f"sha{alg[2:]}")).digest()
    elif isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(msg, padding.PKCS1v15(), _HASHES[alg[2:]]())
    else:
        r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(_HASHES[alg[2:]]())))
        size = (key.curve.key_size + 7) // 8
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{signing_input}.{b64(sig)}"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def claims_at(auth_clock: Clock, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "iat": int(auth_clock.now),
        "exp": int(auth_clock.now) + 300,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}  # None = drop the claim


def token(
    key: PrivateKey | bytes | None, auth_clock: Clock, alg: str = "ES384", kid: str = "k-ec384", **claims: Any
) -> str:
    return sign({"alg": alg, "typ": "JWT", "kid": kid}, claims_at(auth_clock, **claims), key)


def bearer(jwt: str) -> str:
    return f"Bearer {jwt}"


# --- a real JWKS server ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    location: str


@dataclass
class JwksServer:
    base: str
    # path -> JSON document, raw bytes, HTTP status (int), seconds to hang before answering (float) or a Redirect
    routes: dict[str, object] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture(scope="module")
def auth_jwks_http() -> Iterator[JwksServer]:
    state = JwksServer(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits[self.path] += 1
            found = state.routes.get(self.path, 404)
            if isinstance(found, float):  # a server that hangs
                time.sleep(found)
                found = 504
            if isinstance(found, Redirect):
                self.send_response(302)
                self.send_header("Location", found.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if isinstance(found, int):
                self.send_response(found)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = found if isinstance(found, bytes) else json.dumps(found).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def auth_server(auth_jwks_http: JwksServer, auth_keys: Keys) -> JwksServer:
    auth_jwks_http.routes.clear()
    auth_jwks_http.hits.clear()
    auth_jwks_http.routes["/jwks"] = jwks(jwk(auth_keys.ec384, "k-ec384"), jwk(auth_keys.rsa2048, "k-rsa"))
    return auth_jwks_http


@pytest.fixture
def auth_clock() -> Clock:
    return Clock()


_TLS = ssl.create_default_context()  # built once: loading the CA bundle per client costs ~60 ms


@asynccontextmanager
async def authenticator(
    config: dict[str, Any], auth_clock: Clock, **options: Any
) -> AsyncIterator[ClientAuthenticator]:
    # trust_env=False: a proxy from the environment must not intercept our 127.0.0.1 server.
    async with httpx.AsyncClient(trust_env=False, verify=_TLS) as client:
        auth = ClientAuthenticator(
            parse_trusted_issuers(json.dumps(config)), http_client=client, clock=auth_clock, **options
        )
        try:
            yield auth
        finally:
            await auth.aclose()


def inline(keys: Keys, **extra: Any) -> dict[str, Any]:
    return {
        ISS: {
            "jwks": jwks(
                jwk(keys.ec384, "k-ec384"),
                jwk(keys.ec256, "k-ec256"),
                jwk(keys.rsa2048, "k-rsa"),
                jwk(keys.rsa2048, "k-rsa-rs256-only", alg="RS256"),
            ),
            **extra,
        }
    }


def by_url(server: JwksServer, **extra: Any) -> dict[str, Any]:
    return {ISS: {"jwks_url": server.url("/jwks"), **extra}}


async def rejected(auth: ClientAuthenticator, authorization: str | None, audience: str = AUD) -> str:
    with pytest.raises(AuthError) as caught:
        await auth.authenticate(authorization, audience)
    assert str(caught.value) == caught.value.code  # nothing but the code in the message
    return caught.value.code


# --- accepted tokens -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "key_name", "kid"),
    [
        ("ES384", "ec384", "k-ec384"),
        ("RS384", "rsa2048", "k-rsa"),
        ("ES256", "ec256", "k-ec256"),
        ("RS256", "rsa2048", "k-rsa"),
    ],
)
async def test_each_supported_algorithm_is_accepted(
    auth_keys: Keys, auth_clock: Clock, alg: str, key_name: str, kid: str
) -> None:
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        jwt = token(getattr(auth_keys, key_name), auth_clock, alg, kid, sub="epic-client", jti="j-1")
        client = await auth.authenticate(bearer(jwt), AUD)
    assert (client.iss, client.sub, client.jti, client.tenant) == (ISS, "epic-client", "j-1", None)
    assert client.claims["aud"] == AUD


async def test_epic_style_claims_and_lowercase_scheme_are_accepted(auth_keys: Keys, auth_clock: Clock) -> None:
    jwt = token(auth_keys.ec384, auth_clock, sub="abc", nbf=int(auth_clock.now) - 5, tenant="t1", epic_extra={"x": 1})
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        client = await auth.authenticate(f"bearer  {jwt}", AUD)
    assert client.tenant == "t1"
    assert client.claims["epic_extra"] == {"x": 1}


async def test_typ_header_may_be_absent(auth_keys: Keys, auth_clock: Clock) -> None:
    jwt = sign({"alg": "ES384", "kid": "k-ec384"}, claims_at(auth_clock), auth_keys.ec384)
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        await auth.authenticate(bearer(jwt), AUD)


# --- JWKS by URL: fetching, caching, rate-limited refresh ------------------------------------------------------


async def test_jwks_by_url_is_fetched_once_then_cached_until_ttl(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock
) -> None:
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
        await auth.authenticate(bearer(token(auth_keys.rsa2048, auth_clock, "RS384", "k-rsa")), AUD)
        assert auth_server.hits["/jwks"] == 1
        auth_clock.now += 3601
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
        assert auth_server.hits["/jwks"] == 2


async def test_concurrent_requests_share_one_fetch(auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock) -> None:
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        await asyncio.gather(*(auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD) for _ in range(5)))
    assert auth_server.hits["/jwks"] == 1


async def test_own_http_client_when_none_is_shared(auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock) -> None:
    auth = ClientAuthenticator(parse_trusted_issuers(json.dumps(by_url(auth_server))), clock=auth_clock)
    try:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
    finally:
        await auth.aclose()
    assert auth_server.hits["/jwks"] == 1


async def test_unknown_kid_refreshes_once_per_interval(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock
) -> None:
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
        assert auth_server.hits["/jwks"] == 1
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock, kid="nope-1"))) == "unknown-kid"
        assert auth_server.hits["/jwks"] == 2  # one refresh for the unknown kid
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock, kid="nope-2"))) == "unknown-kid"
        assert auth_server.hits["/jwks"] == 2  # within 30 s: no refetch, whatever the attacker sends
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)  # known keys still work
        auth_clock.now += 31
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock, kid="nope-3"))) == "unknown-kid"
        assert auth_server.hits["/jwks"] == 3


async def test_rotated_key_is_picked_up_by_refresh(auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock) -> None:
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
        auth_server.routes["/jwks"] = jwks(jwk(auth_keys.ec384, "k-ec384"), jwk(auth_keys.ec256, "k-new"))
        await auth.authenticate(bearer(token(auth_keys.ec256, auth_clock, "ES256", "k-new")), AUD)
    assert auth_server.hits["/jwks"] == 2


@pytest.mark.parametrize("answer", [503, b"<html>not json</html>", b'{"keys": "no"}', b" " * (300 * 1024)])
async def test_jwks_endpoint_failure_rejects_and_is_not_hammered(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock, answer: object
) -> None:
    auth_server.routes["/jwks"] = answer
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock))) == "jwks-unavailable"
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock))) == "jwks-unavailable"
        assert auth_server.hits["/jwks"] == 1  # the failure is remembered for the rate-limit interval
        auth_clock.now += 31
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock))) == "jwks-unavailable"
        assert auth_server.hits["/jwks"] == 2


async def test_jwks_server_down_rejects(auth_keys: Keys, auth_clock: Clock) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with authenticator({ISS: {"jwks_url": f"http://127.0.0.1:{port}/jwks"}}, auth_clock) as auth:
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock))) == "jwks-unavailable"


async def test_hanging_jwks_server_is_cut_off_by_the_timeout(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock
) -> None:
    auth_server.routes["/jwks"] = 2.0
    async with authenticator(by_url(auth_server), auth_clock, jwks_timeout=0.2) as auth:
        started = time.monotonic()
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock))) == "jwks-unavailable"
    assert time.monotonic() - started < 1.0


async def test_expired_cache_and_failed_refetch_rejects(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock
) -> None:
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
        auth_server.routes["/jwks"] = 500
        auth_clock.now += 3601
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock))) == "jwks-unavailable"  # no stale keys


async def test_failed_early_refresh_keeps_valid_keys(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock
) -> None:
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
        auth_server.routes["/jwks"] = 500
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock, kid="nope"))) == "unknown-kid"
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
    assert auth_server.hits["/jwks"] == 2


# --- jku ------------------------------------------------------------------------------------------------------


async def test_allowlisted_jku_is_honoured(auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock) -> None:
    auth_server.routes["/jku"] = jwks(jwk(auth_keys.ec256, "k-jku"))
    jwt = sign(
        {"alg": "ES256", "typ": "JWT", "kid": "k-jku", "jku": auth_server.url("/jku")},
        claims_at(auth_clock),
        auth_keys.ec256,
    )
    async with authenticator(by_url(auth_server, jku=[auth_server.url("/jku")]), auth_clock) as auth:
        await auth.authenticate(bearer(jwt), AUD)
    assert (auth_server.hits["/jku"], auth_server.hits["/jwks"]) == (1, 0)


async def test_jku_only_issuer(auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock) -> None:
    auth_server.routes["/jku"] = jwks(jwk(auth_keys.ec384, "k-ec384"))
    config = {ISS: {"jku": [auth_server.url("/jku")]}}
    jwt = sign(
        {"alg": "ES384", "kid": "k-ec384", "jku": auth_server.url("/jku")}, claims_at(auth_clock), auth_keys.ec384
    )
    async with authenticator(config, auth_clock) as auth:
        await auth.authenticate(bearer(jwt), AUD)
        # Without a jku the allowlisted sets are still the issuer's configured keys (this used to be "bad-jku").
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
    assert auth_server.hits["/jku"] == 1


@pytest.mark.parametrize("jku_path", ["/evil", "/jku/", "/jku?x=1"])
async def test_jku_not_allowlisted_is_ignored_and_never_fetched(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock, jku_path: str
) -> None:
    # The attacker's set publishes its own key under our kid; the token points at it. The configured keys decide.
    auth_server.routes["/evil"] = jwks(jwk(auth_keys.impostor, "k-ec384"))
    header = {"alg": "ES384", "typ": "JWT", "kid": "k-ec384", "jku": auth_server.url(jku_path)}
    async with authenticator(by_url(auth_server, jku=[auth_server.url("/jku")]), auth_clock) as auth:
        assert await rejected(auth, bearer(sign(header, claims_at(auth_clock), auth_keys.impostor))) == "bad-signature"
        await auth.authenticate(bearer(sign(header, claims_at(auth_clock), auth_keys.ec384)), AUD)  # was "bad-jku"
    assert auth_server.hits[jku_path] == 0 and auth_server.hits["/evil"] == 0
    assert auth_server.hits["/jwks"] == 1


# --- claims ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aud", "ok"),
    [
        (AUD, True),
        (AUD + "/", True),
        (["https://other.example.org/x", AUD], True),
        ("https://cds.example.org/cds-services/other", False),
        (AUD + "/extra", False),
        (AUD.upper(), False),
        (["https://other.example.org/x"], False),
        ([], False),
        (None, False),
        (42, False),
    ],
)
async def test_audience(auth_keys: Keys, auth_clock: Clock, aud: object, ok: bool) -> None:
    jwt = token(auth_keys.ec384, auth_clock, aud=aud)
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        if ok:
            await auth.authenticate(bearer(jwt), AUD)
        else:
            assert await rejected(auth, bearer(jwt)) == "bad-audience"


async def test_expected_audience_trailing_slash_is_normalised(auth_keys: Keys, auth_clock: Clock) -> None:
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD + "/")


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": START - 61}, "expired"),
        ({"exp": START - 60}, "expired"),
        ({"iat": START + 120, "exp": START + 400}, "future-iat"),
        ({"nbf": START + 120}, "not-yet-valid"),
        ({"exp": None}, "missing-claim"),
        ({"iat": None}, "missing-claim"),
        ({"exp": "soon"}, "bad-claim"),
        ({"exp": True}, "bad-claim"),
        ({"jti": None}, "missing-jti"),
        ({"jti": ""}, "bad-claim"),
        ({"jti": 7}, "bad-claim"),
        ({"jti": "x" * 1000}, "bad-claim"),
        ({"sub": 5}, "bad-claim"),
        ({"iss": "https://stranger.example.org"}, "unknown-issuer"),
        ({"iss": None}, "unknown-issuer"),
    ],
)
async def test_bad_claims_are_rejected(auth_keys: Keys, auth_clock: Clock, claims: dict[str, Any], code: str) -> None:
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock, **claims))) == code


@pytest.mark.parametrize("claims", [{"exp": START - 30}, {"iat": START + 30}, {"nbf": START + 30}])
async def test_clock_skew_is_tolerated(auth_keys: Keys, auth_clock: Clock, claims: dict[str, Any]) -> None:
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock, **claims)), AUD)


async def test_unknown_issuer_is_rejected_without_any_fetch(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock
) -> None:
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        jwt = token(auth_keys.ec384, auth_clock, iss="https://stranger.example.org")
        assert await rejected(auth, bearer(jwt)) == "unknown-issuer"
    assert sum(auth_server.hits.values()) == 0


async def test_replayed_jti_is_rejected_until_the_token_expires(auth_keys: Keys, auth_clock: Clock) -> None:
    jwt = token(auth_keys.ec384, auth_clock, jti="once")
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        await auth.authenticate(bearer(jwt), AUD)
        assert await rejected(auth, bearer(jwt)) == "replayed"
        # same jti in a freshly signed token is still a replay
        assert (
            await rejected(auth, bearer(token(auth_keys.rsa2048, auth_clock, "RS384", "k-rsa", jti="once")))
            == "replayed"
        )
        auth_clock.now += 300 + 60
        assert await rejected(auth, bearer(jwt)) == "expired"


async def test_same_jti_from_another_issuer_is_not_a_replay(auth_keys: Keys, auth_clock: Clock) -> None:
    other = "https://other-ehr.example.org"
    config = inline(auth_keys) | {other: {"jwks": jwks(jwk(auth_keys.ec256, "k2"))}}
    async with authenticator(config, auth_clock) as auth:
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock, jti="shared")), AUD)
        client = await auth.authenticate(
            bearer(token(auth_keys.ec256, auth_clock, "ES256", "k2", iss=other, jti="shared")), AUD
        )
    assert client.iss == other


async def test_rejected_token_does_not_burn_its_jti(auth_keys: Keys, auth_clock: Clock) -> None:
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock, jti="j", aud="x"))) == "bad-audience"
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock, jti="j")), AUD)


async def test_many_live_tokens_never_fill_the_replay_store_and_expired_ones_leave(
    auth_keys: Keys, auth_clock: Clock
) -> None:
    """Before issue 15 a full cache refused every valid token; now entries leave with their token, none is refused."""
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        for _ in range(300):
            await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock, exp=int(auth_clock.now) + 10)), AUD)
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)  # a fresh token is still accepted
        auth_clock.now += 71  # the 300 short tokens are past exp + leeway
        await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)
        cache = auth._replay
        assert isinstance(cache, _ReplayCache)
        assert len(cache._until) == 2  # the expired entries are gone


@pytest.mark.parametrize(("configured", "claim", "ok"), [("t1", "t1", True), ("t1", "t2", False), ("t1", None, False)])
async def test_tenant(auth_keys: Keys, auth_clock: Clock, configured: str, claim: str | None, ok: bool) -> None:
    jwt = token(auth_keys.ec384, auth_clock, tenant=claim)
    async with authenticator(inline(auth_keys, tenant=configured), auth_clock) as auth:
        if ok:
            assert (await auth.authenticate(bearer(jwt), AUD)).tenant == "t1"
        else:
            assert await rejected(auth, bearer(jwt)) == "tenant-mismatch"


# --- signatures, algorithms and keys ---------------------------------------------------------------------------


async def test_signature_by_another_key_with_the_same_kid_is_rejected(auth_keys: Keys, auth_clock: Clock) -> None:
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, bearer(token(auth_keys.impostor, auth_clock))) == "bad-signature"


async def test_tampered_claims_are_rejected(auth_keys: Keys, auth_clock: Clock) -> None:
    header, _, sig = token(auth_keys.ec384, auth_clock, sub="a").split(".")
    forged = f"{header}.{b64(json.dumps(claims_at(auth_clock, sub='admin')).encode())}.{sig}"
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, bearer(forged)) == "bad-signature"
        assert await rejected(auth, bearer(f"{header}.{forged.split('.')[1]}.")) == "bad-signature"  # no signature


def public_pem(private: rsa.RSAPrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "HS384", "HS512", "ES512", "PS256", "EdDSA", ""])
async def test_disallowed_algorithms_are_rejected(auth_keys: Keys, auth_clock: Clock, alg: str) -> None:
    # HS*: signed with our RSA public key (PEM) as the HMAC secret, the classic algorithm-confusion forgery.
    secret = public_pem(auth_keys.rsa2048) if alg.startswith("HS") else None
    jwt = sign({"alg": alg, "typ": "JWT", "kid": "k-rsa"}, claims_at(auth_clock), secret)
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, bearer(jwt)) == "bad-alg"


async def test_hmac_signed_with_the_public_key_under_an_rsa_alg_is_rejected(auth_keys: Keys, auth_clock: Clock) -> None:
    # Algorithm confusion: RS256 in the header, but the signature is HMAC-SHA256 keyed with our RSA public key.
    jwt = sign({"alg": "HS256", "typ": "JWT", "kid": "k-rsa"}, claims_at(auth_clock), public_pem(auth_keys.rsa2048))
    header, payload, _ = jwt.split(".")
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "k-rsa"}).encode())
    mac = hmac.new(public_pem(auth_keys.rsa2048), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, bearer(f"{header}.{payload}.{b64(mac)}")) == "bad-signature"


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_joserfc_layer_alone_refuses_other_algorithms(auth_keys: Keys, auth_clock: Clock, alg: str) -> None:
    # Defence in depth: even if the header check were bypassed, verification only runs the expected algorithm.
    secret = public_pem(auth_keys.rsa2048) if alg == "HS256" else None
    jwt = sign({"alg": alg, "kid": "k-rsa"}, claims_at(auth_clock), secret)
    with pytest.raises(AuthError):
        _verify_signature(jwt, RSAKey.import_key(jwk(auth_keys.rsa2048, "k-rsa")), "RS256")


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"alg": "ES384", "typ": "JWT"}, "missing-kid"),
        ({"alg": "ES384", "typ": "JWT", "kid": ""}, "missing-kid"),
        ({"alg": "ES384", "typ": "JWT", "kid": 3}, "missing-kid"),
        ({"alg": "ES384", "typ": "JOSE+JSON", "kid": "k-ec384"}, "bad-header"),
        ({"alg": "ES384", "typ": "jwt", "kid": "k-ec384"}, "bad-header"),
        ({"alg": "ES384", "kid": "k-ec384", "crit": ["b64"], "b64": False}, "bad-header"),
        ({"alg": "ES384", "kid": "k-ec384", "jku": ["https://x"]}, "bad-jku"),
        ({"alg": "ES384", "kid": "k-ec384", "jku": "/.well-known/jwks.json"}, "bad-jku"),
        ({"alg": "ES384", "kid": "k-ec384", "jku": "HTTPS://ehr.example.org/jwks"}, "bad-jku"),
        ({"alg": "ES384", "kid": "k-ec384", "jku": ""}, "bad-jku"),
        ({"alg": ["ES384"], "kid": "k-ec384"}, "bad-alg"),
        ({"kid": "k-ec384"}, "bad-alg"),
    ],
)
async def test_bad_headers_are_rejected(auth_keys: Keys, auth_clock: Clock, header: dict[str, Any], code: str) -> None:
    jwt = sign(header, claims_at(auth_clock), auth_keys.ec384, alg="ES384")
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, bearer(jwt)) == code


@pytest.mark.parametrize(
    ("alg", "key_name", "kid"),
    [
        ("RS384", "ec384", "k-ec384"),  # EC key, RSA algorithm
        ("ES384", "rsa2048", "k-rsa"),  # RSA key, EC algorithm
        ("ES384", "ec256", "k-ec256"),  # P-256 key, P-384 algorithm
        ("RS384", "rsa2048", "k-rsa-rs256-only"),  # the JWK pins "alg": "RS256"
    ],
)
async def test_key_must_fit_the_algorithm(
    auth_keys: Keys, auth_clock: Clock, alg: str, key_name: str, kid: str
) -> None:
    # Signed by the published key itself (with the scheme that key can do), so only the key/alg policy rejects it.
    key = getattr(auth_keys, key_name)
    signing_alg = ("RS" if isinstance(key, rsa.RSAPrivateKey) else "ES") + alg[2:]
    jwt = sign({"alg": alg, "typ": "JWT", "kid": kid}, claims_at(auth_clock), key, alg=signing_alg)
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, bearer(jwt)) == "bad-key"


async def test_rsa_key_under_2048_bits_is_never_used(
    auth_server: JwksServer, auth_keys: Keys, auth_clock: Clock
) -> None:
    auth_server.routes["/jwks"] = jwks(jwk(auth_keys.rsa1024, "k-rsa1024"))
    async with authenticator(by_url(auth_server), auth_clock) as auth:
        jwt = token(auth_keys.rsa1024, auth_clock, "RS256", "k-rsa1024")
        assert await rejected(auth, bearer(jwt)) == "unknown-kid"
    with pytest.raises(ValueError, match="no usable"):
        parse_trusted_issuers(json.dumps({ISS: {"jwks": jwks(jwk(auth_keys.rsa1024, "k-rsa1024"))}}))


# --- garbage and logging --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing-token"),
        ("", "missing-token"),
        ("   ", "missing-token"),
        ("Bearer", "missing-token"),
        ("Bearer   ", "missing-token"),
        ("Basic dXNlcjpwYXNzd29yZA==", "bad-scheme"),
        ("Token abc.def.ghi", "bad-scheme"),
        ("Bearer x.y.z", "malformed"),
        ("Bearer a.b", "malformed"),
        ("Bearer a.b.c.d", "malformed"),
        ("Bearer !!!.###.$$$", "malformed"),
        ("Bearer " + b64(b'{"alg":"ES384"}') + "." + b64(b"[1]") + ".c2ln", "malformed"),
        ("Bearer " + b64(b"[" * 5000 + b"]" * 5000) + ".e30.c2ln", "malformed"),
        ("Bearer " + "a" * 20_000 + ".b.c", "malformed"),
        ("Bearer " + b64(b'{"alg":"ES384","kid":"k"}') + ".e30.c2ln", "unknown-issuer"),
    ],
)
async def test_garbage_is_rejected(auth_keys: Keys, auth_clock: Clock, authorization: str | None, code: str) -> None:
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        assert await rejected(auth, authorization) == code


async def test_rejections_are_logged_with_code_and_issuer_but_never_the_token(
    auth_keys: Keys, auth_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    good = token(auth_keys.ec384, auth_clock, sub="patient-123-secret", jti="jti-secret")
    tokens = [
        good,
        good,  # replayed
        token(auth_keys.ec384, auth_clock, aud="https://elsewhere", sub="patient-123-secret"),
        token(auth_keys.impostor, auth_clock, sub="patient-123-secret"),
        token(auth_keys.ec384, auth_clock, iss="https://evil\nFAKE LOG LINE"),
        "notAToken-header.notAToken-payload.notAToken-signature",
    ]
    caplog.set_level(logging.DEBUG, logger="cds_cyto")
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        await auth.authenticate(bearer(tokens[0]), AUD)
        codes = [await rejected(auth, bearer(jwt)) for jwt in tokens[1:]]
    assert codes == ["replayed", "bad-audience", "bad-signature", "unknown-issuer", "malformed"]
    lines = [r.getMessage() for r in caplog.records if r.name == "cds_cyto.cds.auth"]
    assert len(lines) == len(codes)
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "cds_cyto.cds.auth")
    for line, code in zip(lines, codes, strict=True):
        assert f"code={code}" in line
    assert f"iss={ISS!r}" in lines[0] and "kid='k-ec384'" in lines[0]
    assert all("\n" not in line for line in lines)  # the forged newline in `iss` stays escaped
    for jwt in tokens:
        for part in jwt.split("."):
            assert part not in caplog.text
    assert "patient-123-secret" not in caplog.text and "jti-secret" not in caplog.text


# --- configuration --------------------------------------------------------------------------------------------


def test_parse_trusted_issuers(auth_keys: Keys) -> None:
    config = parse_trusted_issuers(
        json.dumps(
            {
                "https://a.example.org": {"jwks_url": "https://a.example.org/jwks", "tenant": "t"},
                "https://b.example.org": {
                    "jwks": jwks(jwk(auth_keys.ec384, "k1"), {"kty": "oct", "kid": "ignored"}),
                    "jku": ["https://b.example.org/jwks.json"],
                },
                "https://c.example.org": {"jku": ["http://localhost:8080/jwks"]},
            }
        )
    )
    a, b, c = config.values()
    assert (a.issuer, a.jwks_url, a.tenant, a.keys, a.jku) == (
        "https://a.example.org",
        "https://a.example.org/jwks",
        "t",
        (),
        frozenset(),
    )
    assert [k.kid for k in b.keys] == ["k1"] and b.jku == {"https://b.example.org/jwks.json"}
    assert c.jku == {"http://localhost:8080/jwks"} and c.jwks_url is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("{}", "non-empty JSON object"),
        ("[]", "non-empty JSON object"),
        ('{"https://a": "https://a/jwks"}', "must be a JSON object"),
        ('{"https://a": {}}', "needs 'jwks_url', 'jwks'"),
        ('{"https://a": {"jwks_uri": "https://a/jwks"}}', "unknown field"),
        ('{"https://a": {"jwks_url": "https://a/j", "jwks": {"keys": []}}}', "not both"),
        ('{"https://a": {"jwks_url": "http://a.example.org/jwks"}}', "https URL"),
        ('{"https://a": {"jwks_url": "file:///etc/passwd"}}', "https URL"),
        ('{"https://a": {"jwks_url": 5}}', "string URL"),
        ('{"https://a": {"jku": "https://a/jwks"}}', "list of URLs"),
        ('{"https://a": {"jku": ["http://evil.example.org/j"]}}', "https URL"),
        ('{"https://a": {"jwks": {"keys": []}}}', "no usable"),
        ('{"https://a": {"jwks": []}}', "JWK Set object"),
        ('{"https://a": {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}}', "private or symmetric"),
        ('{"https://a": {"jwks_url": "https://a/j", "tenant": ""}}', "'tenant'"),
        ('{"": {"jwks_url": "https://a/j"}}', "empty"),
    ],
)
def test_bad_configuration_is_a_clear_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_trusted_issuers(text)


def test_private_inline_key_is_refused(auth_keys: Keys) -> None:
    private = jwk(auth_keys.ec384, "k1", d=b64int(auth_keys.ec384.private_numbers().private_value, 48))
    with pytest.raises(ValueError, match="private") as caught:
        parse_trusted_issuers(json.dumps({ISS: {"jwks": jwks(private)}}))
    assert private["d"] not in str(caught.value)


async def test_a_token_living_longer_than_the_maximum_lifetime_is_refused(auth_keys: Keys, auth_clock: Clock) -> None:
    """exp − iat over the site's maximum (default 300 s, the spec's examples) is refused however valid otherwise."""
    async with authenticator(inline(auth_keys), auth_clock) as auth:
        ten_years = int(auth_clock.now) + 10 * 365 * 86_400
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock, exp=ten_years))) == "too-long-lived"
        assert await rejected(auth, bearer(token(auth_keys.ec384, auth_clock, exp=int(auth_clock.now) + 301))) == (
            "too-long-lived"
        )
        assert (await auth.authenticate(bearer(token(auth_keys.ec384, auth_clock)), AUD)).iss == ISS  # exactly 300 s
    async with authenticator(inline(auth_keys), auth_clock, max_lifetime=3600) as auth:
        long = token(auth_keys.ec384, auth_clock, exp=int(auth_clock.now) + 3600)
        assert (await auth.authenticate(bearer(long), AUD)).iss == ISS  # a site may allow longer
