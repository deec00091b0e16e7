"""Issue 20: tokens built the way real CDS clients build them, under every issuer configuration a site would try.

A token's `jku` is used only when the site configured that URL for the issuer (`jwks_url` or the `jku` allowlist);
any other `jku` is ignored: never fetched, never a reason to accept, never a reason to refuse a token that verifies
against the configured keys. Everything is really signed (with `cryptography`, see test_auth.py) and every JWK Set
URL is a real local HTTP server; an httpx event hook records each request the verifier makes, so "never fetched"
is observed, not assumed.

How the clients build their tokens (read from their sources; key pairs here are our own):
- CDS Hooks sandbox (github.com/cds-hooks/sandbox, src/retrieve-data-helpers/jwt-generator.js): header alg ES384,
  typ JWT, a fixed kid and jku https://sandbox.cds-hooks.org/.well-known/jwks.json; claims iss, aud (the URL called),
  exp = iat + 300, iat, jti (a UUID). No `sub` (removed in 2019) and no `nbf`. Its JWK has use "sig", alg "ES384".
- Epic ("Trusting CDS Clients", Epic on FHIR documentation): alg RS384, typ JWT, a base64 thumbprint kid, jku
  {base}/api/epic/2019/Security/Open/PublicKeys/<id>/<id>; claims aud, exp (the example: iat + 900), iat, iss (the
  organisation's FHIR endpoint), jti, nbf "typically 5 minutes prior to" iat, sub (the client id).
- Cerner (fhir.cerner.com CDS Hooks page, 2021): iss https://cds-hooks.cerner.com, keys at
  https://authorization.cerner.com/jwk; kids there look like "2025-09-29T02:43:24.322.rsa" and rotate every few
  days. Its header and claims are not documented there: the Cerner-style token below is RS384 without a jku.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cds_cyto.cds.auth import ClientAuthenticator, parse_trusted_issuers
from tests.cds.test_auth import (
    _TLS,
    Clock,
    JwksServer,
    PrivateKey,
    Redirect,
    auth_jwks_http,
    bearer,
    jwk,
    jwks,
    rejected,
    sign,
)

__all__ = ["auth_jwks_http"]  # the real local JWKS server fixture, shared with test_auth.py

AUD = "https://cds.example.org/cds-services/cyto-patient-view"

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"  # the real one: never reachable from tests
SANDBOX_PATH = "/.well-known/jwks.json"

EPIC_ISS = "https://fhir.hospital.example.org/interconnect-fhir-oauth/api/FHIR/R4"
EPIC_KID = "d3bmo5HzW61TUgikHZH+A8Tx4UOXz2iOs4KvVU4eLY0="
EPIC_PATH = "/interconnect-fhir-oauth/api/epic/2019/Security/Open/PublicKeys/530013/530013"

CERNER_ISS = "https://cds-hooks.cerner.com"
CERNER_KID = "2026-11-30T02:43:24.322.rsa"
CERNER_PATH = "/jwk"

ATTACKER_PATH = "/attacker/jwks.json"
UNREACHABLE = "https://127.0.0.1:1/.well-known/jwks.json"  # nothing listens on port 1: refused at once


@dataclass(frozen=True)
class EhrKeys:
    sandbox: ec.EllipticCurvePrivateKey
    epic: rsa.RSAPrivateKey
    cerner: rsa.RSAPrivateKey
    cerner_next: rsa.RSAPrivateKey
    attacker_ec: ec.EllipticCurvePrivateKey
    attacker_rsa: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def ehr_keys() -> EhrKeys:
    return EhrKeys(
        sandbox=ec.generate_private_key(ec.SECP384R1()),
        epic=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        cerner=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        cerner_next=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        attacker_ec=ec.generate_private_key(ec.SECP384R1()),
        attacker_rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def sandbox_set(keys: EhrKeys) -> dict[str, Any]:
    return jwks(jwk(keys.sandbox, SANDBOX_KID, use="sig", alg="ES384"))


def epic_set(keys: EhrKeys) -> dict[str, Any]:
    return jwks(jwk(keys.epic, EPIC_KID, use="sig"))


@pytest.fixture
def ehr(auth_jwks_http: JwksServer, ehr_keys: EhrKeys) -> JwksServer:
    """The EHRs' key sets and an attacker's set (its keys under the EHRs' kids), all on one local server."""
    server = auth_jwks_http
    server.routes.clear()
    server.hits.clear()
    server.routes[SANDBOX_PATH] = sandbox_set(ehr_keys)
    server.routes[EPIC_PATH] = epic_set(ehr_keys)
    server.routes[CERNER_PATH] = jwks(jwk(ehr_keys.cerner, CERNER_KID))
    server.routes[ATTACKER_PATH] = jwks(
        jwk(ehr_keys.attacker_ec, SANDBOX_KID, use="sig", alg="ES384"),
        jwk(ehr_keys.attacker_rsa, EPIC_KID),
        jwk(ehr_keys.attacker_rsa, CERNER_KID + "-attacker"),
    )
    return server


@pytest.fixture
def clock() -> Clock:
    return Clock()


# --- tokens as the clients build them --------------------------------------------------------------------------


def sandbox_token(key: PrivateKey, clock: Clock, *, jku: str = SANDBOX_JKU, aud: str = AUD, **header: Any) -> str:
    now = clock.now  # the sandbox's clock is our clock; it rounds Date.now() / 1000
    claims = {"iss": SANDBOX_ISS, "aud": aud, "exp": round(now + 300), "iat": round(now), "jti": str(uuid.uuid4())}
    return sign({"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": jku, **header}, claims, key)


def epic_token(
    key: PrivateKey, clock: Clock, jku: str, *, skew: float = 0, nbf_before_iat: int = 300, **header: Any
) -> str:
    iat = int(clock.now + skew)  # skew: how far the EHR's clock runs ahead of ours
    claims = {
        "aud": AUD,
        "exp": iat + 900,
        "iat": iat,
        "iss": EPIC_ISS,
        "jti": str(uuid.uuid4()),
        "nbf": iat - nbf_before_iat,
        "sub": "a1b2c3d4-epic-cds-client-id",
    }
    return sign({"alg": "RS384", "jku": jku, "kid": EPIC_KID, "typ": "JWT", **header}, claims, key)


def cerner_token(key: PrivateKey, clock: Clock, *, kid: str = CERNER_KID, **header: Any) -> str:
    iat = int(clock.now)
    claims = {"iss": CERNER_ISS, "aud": AUD, "exp": iat + 300, "iat": iat, "jti": str(uuid.uuid4())}
    return sign({"alg": "RS384", "typ": "JWT", "kid": kid, **header}, claims, key)


# --- a verifier that records every request it makes ------------------------------------------------------------


@dataclass
class Verifier:
    auth: ClientAuthenticator
    requested: list[str]

    async def accepts(self, jwt: str) -> None:
        await self.auth.authenticate(bearer(jwt), AUD)

    async def refuses(self, jwt: str) -> str:
        return await rejected(self.auth, bearer(jwt))


@asynccontextmanager
async def verifier(config: dict[str, Any], clock: Clock, **options: Any) -> AsyncIterator[Verifier]:
    requested: list[str] = []

    async def record(request: httpx.Request) -> None:
        requested.append(str(request.url))

    # Epic's example tokens live 900 s (and one case here 3600 s), over the 300 s default: a site serving them sets
    # CDS_CYTO_TOKEN_MAX_LIFETIME_S, as these tests do; the maximum itself is tested in test_auth.py.
    options.setdefault("max_lifetime", 3600.0)
    async with httpx.AsyncClient(trust_env=False, verify=_TLS, event_hooks={"request": [record]}) as client:
        auth = ClientAuthenticator(
            parse_trusted_issuers(json.dumps(config)), http_client=client, clock=clock, **options
        )
        try:
            yield Verifier(auth, requested)
        finally:
            await auth.aclose()


# --- the public CDS Hooks sandbox ------------------------------------------------------------------------------

SandboxConfig = Callable[[JwksServer, EhrKeys], dict[str, Any]]

SANDBOX_CONFIGS: dict[str, SandboxConfig] = {
    "inline": lambda s, k: {"jwks": sandbox_set(k)},
    "inline+jku": lambda s, k: {"jwks": sandbox_set(k), "jku": [s.url(SANDBOX_PATH)]},
    "inline+real-jku": lambda s, k: {"jwks": sandbox_set(k), "jku": [SANDBOX_JKU]},
    "inline+dead-jku": lambda s, k: {"jwks": sandbox_set(k), "jku": [UNREACHABLE]},
    "jwks_url": lambda s, k: {"jwks_url": s.url(SANDBOX_PATH)},
    "jku": lambda s, k: {"jku": [s.url(SANDBOX_PATH)]},
}


@pytest.mark.parametrize(
    ("config", "jku", "fetched"),
    [
        # Inline keys: the token's jku, allowlisted or not, reachable or not, is never fetched.
        ("inline", "real", []),
        ("inline", "local", []),
        ("inline+jku", "local", []),
        ("inline+real-jku", "real", []),
        ("inline+dead-jku", "real", []),
        # A configured URL is fetched once, whether the token names it or names something else.
        ("jwks_url", "local", [SANDBOX_PATH]),
        ("jwks_url", "real", [SANDBOX_PATH]),
        ("jku", "local", [SANDBOX_PATH]),
        ("jku", "real", [SANDBOX_PATH]),
    ],
)
async def test_sandbox_token_is_accepted_in_every_configuration(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock, config: str, jku: str, fetched: list[str]
) -> None:
    token_jku = SANDBOX_JKU if jku == "real" else ehr.url(SANDBOX_PATH)
    async with verifier({SANDBOX_ISS: SANDBOX_CONFIGS[config](ehr, ehr_keys)}, clock) as v:
        await v.accepts(sandbox_token(ehr_keys.sandbox, clock, jku=token_jku))
        await v.accepts(sandbox_token(ehr_keys.sandbox, clock, jku=token_jku))  # then from the cache
    assert v.requested == [ehr.url(path) for path in fetched]


@pytest.mark.parametrize("config", [c for c in SANDBOX_CONFIGS if c != "inline+real-jku"])  # no real network
async def test_attackers_key_behind_attackers_jku_is_refused_in_every_configuration(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock, config: str
) -> None:
    # The attacker's set publishes its key under the sandbox's kid, and the token points there.
    forged = sandbox_token(ehr_keys.attacker_ec, clock, jku=ehr.url(ATTACKER_PATH))
    async with verifier({SANDBOX_ISS: SANDBOX_CONFIGS[config](ehr, ehr_keys)}, clock) as v:
        assert await v.refuses(forged) == "bad-signature"
        # The same with a kid only the attacker's set has: still only configured sets are looked at.
        unknown = sandbox_token(ehr_keys.attacker_ec, clock, jku=ehr.url(ATTACKER_PATH), kid="attacker-only")
        assert await v.refuses(unknown) in {"unknown-kid", "jwks-unavailable"}  # the dead jku cannot be had
    assert ehr.hits[ATTACKER_PATH] == 0
    assert set(v.requested) <= {ehr.url(SANDBOX_PATH), UNREACHABLE}


async def test_allowlisted_jku_supplies_a_key_the_pinned_set_lacks(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock
) -> None:
    # Inline keys come first; a kid they lack (a rotated key) is looked up at the configured URL.
    config = {SANDBOX_ISS: {"jwks": jwks(jwk(ehr_keys.epic, "old")), "jku": [ehr.url(SANDBOX_PATH)]}}
    async with verifier(config, clock) as v:
        await v.accepts(sandbox_token(ehr_keys.sandbox, clock, jku=ehr.url(SANDBOX_PATH)))
    assert v.requested == [ehr.url(SANDBOX_PATH)]


# --- Epic: RS384, jku, nbf five minutes before iat -------------------------------------------------------------


@pytest.mark.parametrize("config", ["inline", "jwks_url", "jku"])
async def test_epic_token_is_accepted(ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock, config: str) -> None:
    issuer = {
        "inline": {"jwks": epic_set(ehr_keys)},
        "jwks_url": {"jwks_url": ehr.url(EPIC_PATH)},
        "jku": {"jku": [ehr.url(EPIC_PATH)]},
    }[config]
    async with verifier({EPIC_ISS: issuer}, clock) as v:
        await v.accepts(epic_token(ehr_keys.epic, clock, ehr.url(EPIC_PATH)))
    assert v.requested == ([] if config == "inline" else [ehr.url(EPIC_PATH)])


@pytest.mark.parametrize(
    ("skew", "nbf_before_iat", "code"),
    [
        (0, 300, None),  # Epic's own: nbf five minutes before iat
        (0, 3600, None),  # an nbf long past never hurts
        (-120, 300, None),  # the EHR's clock two minutes behind ours
        (60, 300, None),  # ahead by the leeway exactly
        (61, 300, "future-iat"),  # ahead by more
        (0, -60, None),  # nbf in the future, within the leeway
        (0, -61, "not-yet-valid"),  # beyond it
    ],
)
async def test_epic_clock_skew_and_nbf(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock, skew: float, nbf_before_iat: int, code: str | None
) -> None:
    jwt = epic_token(ehr_keys.epic, clock, ehr.url(EPIC_PATH), skew=skew, nbf_before_iat=nbf_before_iat)
    async with verifier({EPIC_ISS: {"jwks": epic_set(ehr_keys)}}, clock) as v:
        if code is None:
            await v.accepts(jwt)
        else:
            assert await v.refuses(jwt) == code


async def test_epic_token_lives_its_fifteen_minutes(ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock) -> None:
    jwt = epic_token(ehr_keys.epic, clock, ehr.url(EPIC_PATH))
    async with verifier({EPIC_ISS: {"jwks": epic_set(ehr_keys)}}, clock) as v:
        clock.now += 900 + 59  # exp + leeway - 1 s
        await v.accepts(jwt)
        clock.now += 1
        assert await v.refuses(jwt) == "expired"  # expiry is checked before replay


# --- Cerner-style: a jwks_url, no jku, rotating kids -----------------------------------------------------------


async def test_cerner_style_token_and_key_rotation(ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock) -> None:
    async with verifier({CERNER_ISS: {"jwks_url": ehr.url(CERNER_PATH)}}, clock) as v:
        await v.accepts(cerner_token(ehr_keys.cerner, clock))
        await v.accepts(cerner_token(ehr_keys.cerner, clock, jku=ehr.url(CERNER_PATH)))  # jku = jwks_url: same set
        ehr.routes[CERNER_PATH] = jwks(jwk(ehr_keys.cerner, CERNER_KID), jwk(ehr_keys.cerner_next, "next.rsa"))
        await v.accepts(cerner_token(ehr_keys.cerner_next, clock, kid="next.rsa"))  # picked up by one refresh
    assert v.requested == [ehr.url(CERNER_PATH)] * 2


# --- attacks -----------------------------------------------------------------------------------------------------


async def test_alg_confusion_through_an_attackers_jku_is_refused(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock
) -> None:
    # The sandbox's pinned key is EC; the attacker's jku offers an RSA key under that kid and signs RS384.
    rs384 = sandbox_token(ehr_keys.attacker_rsa, clock, jku=ehr.url(ATTACKER_PATH), alg="RS384")
    pem = ehr_keys.sandbox.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs384 = sign(
        {"alg": "HS384", "typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU},
        {"iss": SANDBOX_ISS, "aud": AUD, "exp": int(clock.now) + 300, "iat": int(clock.now), "jti": "h"},
        pem,  # HMAC keyed with the pinned public key
    )
    async with verifier({SANDBOX_ISS: {"jwks_url": ehr.url(SANDBOX_PATH)}}, clock) as v:
        assert await v.refuses(rs384) == "bad-key"
        assert await v.refuses(hs384) == "bad-alg"
    assert ehr.hits[ATTACKER_PATH] == 0


def self_signed(key: ec.EllipticCurvePrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.cds-hooks.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA384())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()  # x5c: standard base64


@pytest.mark.parametrize("kind", ["jwk", "x5u", "x5c"])
async def test_key_carrying_headers_are_never_trusted(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock, kind: str
) -> None:
    headers: dict[str, dict[str, Any]] = {
        "jwk": {"jwk": jwk(ehr_keys.attacker_ec, SANDBOX_KID, use="sig", alg="ES384")},
        "x5u": {"x5u": ehr.url("/attacker/cert.pem")},
        "x5c": {"x5c": [self_signed(ehr_keys.attacker_ec)]},
    }
    header = headers[kind]
    forged = sandbox_token(ehr_keys.attacker_ec, clock, **header)
    genuine = sandbox_token(ehr_keys.sandbox, clock, **header)
    async with verifier({SANDBOX_ISS: {"jwks": sandbox_set(ehr_keys)}}, clock) as v:
        assert await v.refuses(forged) == "bad-signature"
        await v.accepts(genuine)  # ignored, like a jku that is not configured
    assert v.requested == []


@pytest.mark.parametrize("crit", [["jku"], ["exp"], ["b64"], []])
async def test_crit_header_is_refused(ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock, crit: list[str]) -> None:
    async with verifier({SANDBOX_ISS: {"jwks": sandbox_set(ehr_keys)}}, clock) as v:
        assert await v.refuses(sandbox_token(ehr_keys.sandbox, clock, crit=crit)) == "bad-header"


async def test_kid_from_another_issuers_set_is_unknown(ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock) -> None:
    # Epic's key signs a token that claims to be the sandbox, naming Epic's kid and Epic's (allowlisted) jku.
    config = {
        SANDBOX_ISS: {"jwks_url": ehr.url(SANDBOX_PATH)},
        EPIC_ISS: {"jku": [ehr.url(EPIC_PATH)]},
        CERNER_ISS: {"jwks": jwks(jwk(ehr_keys.cerner, CERNER_KID))},
    }
    as_sandbox = sandbox_token(ehr_keys.epic, clock, jku=ehr.url(EPIC_PATH), alg="RS384", kid=EPIC_KID)
    cerner_kid = sandbox_token(ehr_keys.cerner, clock, alg="RS384", kid=CERNER_KID)
    async with verifier(config, clock) as v:
        assert await v.refuses(as_sandbox) == "unknown-kid"
        assert await v.refuses(cerner_kid) == "unknown-kid"
        await v.accepts(epic_token(ehr_keys.epic, clock, ehr.url(EPIC_PATH)))  # Epic's own token still works
    assert ehr.hits[EPIC_PATH] == 1  # fetched for Epic's token, never for the sandbox's


def url_tricks(server: JwksServer) -> list[str]:
    """Spellings near the allowlisted URL that are not it; each one, fetched, would reach the attacker's set."""
    port = server.base.rsplit(":", 1)[1]
    real = server.url(SANDBOX_PATH)
    return [
        real + "/",
        real.replace("jwks.json", "JWKS.json"),
        real + "?x=1",
        real + "#frag",
        real.replace(".json", "%2Ejson"),
        server.url("/.well-known/../attacker/jwks.json"),
        f"http://localhost:{port}{SANDBOX_PATH}",
        f"http://LocalHost:{port}{SANDBOX_PATH}",
        f"http://127.0.0.1:{port}@localhost:{port}{ATTACKER_PATH}",
        f"http://127.0.0.1:{port}{SANDBOX_PATH}@localhost:{port}{ATTACKER_PATH}",
        server.url(ATTACKER_PATH + "?" + real),
        real + "\u0000",
        real.replace("jwks", "jwk\u0455"),  # Cyrillic dze for "s"
        real.replace("127.0.0.1", "127.1"),
        real.replace("127.0.0.1", "2130706433"),
    ]


@pytest.mark.parametrize("config", ["jwks_url", "jku"])
async def test_near_miss_jku_spellings_are_ignored(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock, config: str
) -> None:
    issuer = {config: ehr.url(SANDBOX_PATH) if config == "jwks_url" else [ehr.url(SANDBOX_PATH)]}
    async with verifier({SANDBOX_ISS: issuer}, clock) as v:
        for trick in url_tricks(ehr):
            assert await v.refuses(sandbox_token(ehr_keys.attacker_ec, clock, jku=trick)) == "bad-signature", trick
            await v.accepts(sandbox_token(ehr_keys.sandbox, clock, jku=trick))
    assert v.requested == [ehr.url(SANDBOX_PATH)]  # one fetch of the configured URL, nothing else


@pytest.mark.parametrize("config", ["jwks_url", "jku"])
async def test_configured_url_redirecting_elsewhere_is_not_followed(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock, config: str
) -> None:
    ehr.routes[SANDBOX_PATH] = Redirect(ehr.url(ATTACKER_PATH))
    issuer = {config: ehr.url(SANDBOX_PATH) if config == "jwks_url" else [ehr.url(SANDBOX_PATH)]}
    async with verifier({SANDBOX_ISS: issuer}, clock) as v:
        forged = sandbox_token(ehr_keys.attacker_ec, clock, jku=ehr.url(SANDBOX_PATH))
        assert await v.refuses(forged) == "jwks-unavailable"
    assert ehr.hits[ATTACKER_PATH] == 0
    assert v.requested == [ehr.url(SANDBOX_PATH)]


async def test_unknown_kid_flood_refreshes_each_configured_url_at_most_every_30_s(
    ehr: JwksServer, ehr_keys: EhrKeys, clock: Clock
) -> None:
    config = {SANDBOX_ISS: {"jwks_url": ehr.url(SANDBOX_PATH), "jku": [ehr.url(EPIC_PATH)]}}
    async with verifier(config, clock) as v:
        for i in range(20):
            jwt = sandbox_token(ehr_keys.attacker_ec, clock, jku=ehr.url(ATTACKER_PATH), kid=f"nope-{i}")
            assert await v.refuses(jwt) == "unknown-kid"
        assert sorted(v.requested) == sorted([ehr.url(SANDBOX_PATH), ehr.url(EPIC_PATH)] * 2)  # fetch + 1 refresh
        clock.now += 31
        assert await v.refuses(sandbox_token(ehr_keys.attacker_ec, clock, kid="nope-late")) == "unknown-kid"
    assert len(v.requested) == 6
    assert ehr.hits[ATTACKER_PATH] == 0


def test_readme_issuer_examples_parse() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = readme.split("`CDS_CYTO_TRUSTED_ISSUERS`, one issuer per EHR family", 1)[1]
    example = after.split("```json", 1)[1].split("```", 1)[0]
    issuers = parse_trusted_issuers(example)
    assert list(issuers) == [
        SANDBOX_ISS,
        "https://ehr.hospital.example.org/interconnect-fhir-oauth/api/FHIR/R4",
        CERNER_ISS,
    ]
    assert issuers[SANDBOX_ISS].jwks_url == SANDBOX_JKU  # the URL the sandbox's own jku names
