"""Authentication of CDS clients (CDS Hooks 2.0, "Trusting CDS Clients"): verify the bearer JWT an EHR sends.

Framework-agnostic. The HTTP layer passes the Authorization header and the audience (the public URL the client
invoked) to `ClientAuthenticator.authenticate` and answers any `AuthError` with a bare 401: the error `code` is
for logs and metrics only. Trusted issuers come from `parse_trusted_issuers` (env `CDS_CYTO_TRUSTED_ISSUERS`).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import httpx
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import ECKey, Key, RSAKey

from .fhir_servers import BaseUrl, normalise_base_url
from .jwks import MIN_RSA_BITS, JWKSCache, JWKSUnavailable, signing_keys

__all__ = [
    "ALGORITHMS",
    "AuthError",
    "ClientAuthenticator",
    "IssuerConfig",
    "ReplayStore",
    "VerifiedClient",
    "parse_trusted_issuers",
]

_log = logging.getLogger(__name__)

# alg -> (kty, EC curve). ES384/RS384 are what the spec requires; ES256/RS256 because some EHRs send them.
# Never "none" or HS*: with HMAC a public key would become a shared secret anyone can sign with.
ALGORITHMS: Final[Mapping[str, tuple[str, str | None]]] = MappingProxyType(
    {"ES384": ("EC", "P-384"), "RS384": ("RSA", None), "ES256": ("EC", "P-256"), "RS256": ("RSA", None)}
)
_MAX_TOKEN_CHARS: Final = 16 * 1024
_MAX_JTI_CHARS: Final = 256
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_CONFIG_FIELDS: Final = frozenset({"jwks_url", "jwks", "jku", "tenant", "fhir_base_urls"})
_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _registry(alg: str) -> jws.JWSRegistry:
    # Exactly one algorithm per registry: joserfc itself then refuses any other alg, whatever the header says.
    # Unknown header parameters are allowed (EHRs add their own); `crit` is still enforced.
    registry = jws.JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = 4096  # the default 512 bytes is tight for a long `jku` and `kid`
    return registry


_REGISTRIES: Final = {alg: _registry(alg) for alg in ALGORITHMS}


class AuthError(Exception):
    """The request is not from a trusted CDS client. `code` is a stable machine string for logs and metrics.

    Codes: missing-token, bad-scheme, malformed, bad-header, bad-alg, missing-kid, unknown-issuer, bad-jku (not an
    http(s) URL string; a well-formed `jku` that is merely not configured is ignored, not refused),
    jwks-unavailable, unknown-kid, bad-key, bad-signature, bad-audience, missing-claim, bad-claim, expired,
    future-iat, not-yet-valid, too-long-lived (exp − iat over the maximum), missing-jti, tenant-mismatch, replayed,
    replay-unavailable (the replay store could not be asked: refused, since a replay could not be ruled out).
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)  # the message is the code only: nothing from the token can leak through str()
        self.code = code


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """How to verify one trusted issuer. Its keys are the inline `keys` (pinned) and the sets published at
    `jwks_url` and at the `jku` allowlist URLs; `tenant`, if set, must match the token's claim. `fhir_base_urls`
    are the FHIR servers its requests' `fhirServer` may name (normalised); none: the service never fetches for it."""

    issuer: str
    jwks_url: str | None = None
    keys: tuple[Key, ...] = ()
    jku: frozenset[str] = frozenset()
    tenant: str | None = None
    fhir_base_urls: tuple[BaseUrl, ...] = ()


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    iss: str
    sub: str | None
    jti: str
    tenant: str | None
    claims: dict[str, Any]


def parse_trusted_issuers(text: str) -> dict[str, IssuerConfig]:
    """Parse the `CDS_CYTO_TRUSTED_ISSUERS` JSON: issuer -> {"jwks_url" | "jwks", "jku"?, "tenant"?}.

    Raises ValueError naming the issuer and field at fault (never echoing key material).
    """
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"trusted issuers: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError("trusted issuers: expected a non-empty JSON object mapping issuer -> configuration")
    return {iss: _parse_issuer(iss, conf) for iss, conf in raw.items()}


def _parse_issuer(iss: str, conf: object) -> IssuerConfig:
    where = f"trusted issuer {iss!r}"
    if not iss:
        raise ValueError("trusted issuers: an issuer name is empty")
    if not isinstance(conf, dict):
        raise ValueError(f"{where}: configuration must be a JSON object")
    unknown = set(conf) - _CONFIG_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_CONFIG_FIELDS)}")
    if "jwks_url" in conf and "jwks" in conf:
        raise ValueError(f"{where}: give either 'jwks_url' or 'jwks', not both")
    if not {"jwks_url", "jwks", "jku"} & set(conf):
        raise ValueError(f"{where}: needs 'jwks_url', 'jwks' or a 'jku' allowlist")

    jwks_url = None
    if "jwks_url" in conf:
        jwks_url = _check_url(conf["jwks_url"], f"{where}: 'jwks_url'")
    keys: tuple[Key, ...] = ()
    if "jwks" in conf:
        jwks = conf["jwks"]
        entries = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(entries, list):
            raise ValueError(f"{where}: 'jwks' must be a JWK Set object with a 'keys' array")
        if any(isinstance(k, dict) and _PRIVATE_JWK_MEMBERS & set(k) for k in entries):
            raise ValueError(f"{where}: 'jwks' contains private or symmetric key material; give public keys only")
        keys = tuple(signing_keys(jwks))
        if not keys:
            raise ValueError(f"{where}: 'jwks' has no usable RSA or EC signing key")
    jku_list = conf.get("jku", [])
    if not isinstance(jku_list, list):
        raise ValueError(f"{where}: 'jku' must be a list of URLs")
    jku = frozenset(_check_url(u, f"{where}: 'jku' entry") for u in jku_list)
    tenant = conf.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        raise ValueError(f"{where}: 'tenant' must be a non-empty string")
    fhir_list = conf.get("fhir_base_urls", [])
    if not isinstance(fhir_list, list):
        raise ValueError(f"{where}: 'fhir_base_urls' must be a list of URLs")
    fhir_bases = []
    for url in fhir_list:
        base = normalise_base_url(_check_url(url, f"{where}: 'fhir_base_urls' entry"))
        if base is None:
            raise ValueError(f"{where}: a 'fhir_base_urls' entry must be a base URL without user, query or fragment")
        fhir_bases.append(base)
    return IssuerConfig(
        issuer=iss, jwks_url=jwks_url, keys=keys, jku=jku, tenant=tenant, fhir_base_urls=tuple(fhir_bases)
    )


def _check_url(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string URL")
    parts = urlsplit(value)
    # Plain http only to loopback (development and tests): keys fetched in clear text could be swapped.
    if not parts.hostname or not (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)
    ):
        raise ValueError(f"{where} must be an https URL (http only for localhost), got {value!r}")
    return value


class ReplayStore(Protocol):
    """Where used tokens are remembered until they expire (`until` = exp + leeway, epoch seconds)."""

    async def first_use(self, iss: str, jti: str, until: float, now: float) -> bool:
        """True the first time (iss, jti) is seen while live; False for a replay."""
        ...


class _ReplayCache:
    """(iss, jti) pairs seen while their token could still be accepted, in this process only: the fallback when no
    shared store is given (the service always gives the database's, `cds_cyto.store.replay`). Never full: every
    entry leaves with its token (exp + leeway), so a valid token is never refused for want of room."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}
        self._expiries: list[tuple[float, str, str]] = []  # min-heap, to drop expired pairs in order

    async def first_use(self, iss: str, jti: str, until: float, now: float) -> bool:
        while self._expiries and self._expiries[0][0] <= now:
            _, old_iss, old_jti = heapq.heappop(self._expiries)
            del self._until[old_iss, old_jti]
        if (iss, jti) in self._until:
            return False
        self._until[iss, jti] = until
        heapq.heappush(self._expiries, (until, iss, jti))
        return True


@dataclass(slots=True)
class _Seen:
    """What may be logged about a rejected token: its issuer and key id, nothing else."""

    iss: str | None = None
    kid: str | None = None


class ClientAuthenticator:
    """Verifies CDS client JWTs against the trusted issuers. One instance per process (it holds the JWKS cache);
    used tokens go to `replay` (shared by every worker and replica when it is the database's; an in-process cache
    otherwise). Close it with `aclose()` when the app stops."""

    def __init__(
        self,
        issuers: Mapping[str, IssuerConfig],
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        leeway: float = 60.0,
        jwks_ttl: float = 3600.0,
        jwks_min_refresh_interval: float = 30.0,
        jwks_timeout: float = 5.0,
        max_lifetime: float = 300.0,
        replay: ReplayStore | None = None,
    ) -> None:
        self._issuers = dict(issuers)
        self._clock = clock
        self._leeway = leeway
        self._max_lifetime = max_lifetime  # exp − iat: a token valid for years is a stolen credential's dream
        self._jwks = JWKSCache(
            http_client, clock=clock, ttl=jwks_ttl, min_refresh_interval=jwks_min_refresh_interval, timeout=jwks_timeout
        )
        self._replay: ReplayStore = replay if replay is not None else _ReplayCache()

    async def aclose(self) -> None:
        await self._jwks.aclose()

    async def authenticate(self, authorization_header: str | None, audience: str) -> VerifiedClient:
        """Verify `Authorization: Bearer <JWT>` for a request to `audience`; raise AuthError if not trusted."""
        seen = _Seen()
        try:
            return await self._authenticate(authorization_header, audience, seen)
        except AuthError as exc:
            _log.info(
                "CDS client rejected: code=%s iss=%s kid=%s", exc.code, _printable(seen.iss), _printable(seen.kid)
            )
            raise

    async def _authenticate(self, authorization: str | None, audience: str, seen: _Seen) -> VerifiedClient:
        token = _bearer_token(authorization)
        header, unverified = _peek(token)
        alg, kid = _check_header(header)
        seen.kid = kid
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise AuthError("unknown-issuer")
        seen.iss = iss
        config = self._issuers.get(iss)
        if config is None:
            raise AuthError("unknown-issuer")  # before any fetch: untrusted tokens never make us call out
        key = await self._find_key(config, header, alg, kid)
        claims = _verify_signature(token, key, alg)
        client, until, now = self._check_claims(claims, config, audience)
        # Last, so a token rejected for any other reason does not burn its jti.
        try:
            first = await self._replay.first_use(client.iss, client.jti, until, now)
        except Exception as exc:  # a store that cannot answer must not let a replay through, nor become a 500
            _log.warning("token replay store unavailable: %s", type(exc).__name__)
            raise AuthError("replay-unavailable") from None
        if not first:
            raise AuthError("replayed")
        return client

    async def _find_key(self, config: IssuerConfig, header: dict[str, Any], alg: str, kid: str) -> Key:
        """The key `kid` names among the keys the site configured for this issuer; the token never adds a source.

        Pinned (inline) keys first, with no network; then the configured URLs, the token's `jku` first when it is
        one of them. Any other `jku` is ignored: never fetched, never a reason to accept or to refuse.
        """
        key = _pick_key(config.keys, kid, alg)
        if key is not None:
            return key
        urls = _key_urls(config, header.get("jku"))
        if not urls:
            raise AuthError("unknown-kid")
        key, unavailable = await self._pick_from_urls(urls, kid, alg, refresh=False)
        if key is None:  # key rotation: refetch once (rate limited per URL by the cache)
            key, unavailable = await self._pick_from_urls(urls, kid, alg, refresh=True)
        if key is not None:
            return key
        raise AuthError("jwks-unavailable" if unavailable else "unknown-kid")  # the cache has logged why

    async def _pick_from_urls(self, urls: list[str], kid: str, alg: str, *, refresh: bool) -> tuple[Key | None, bool]:
        """The first key with `kid` in these URLs' sets, and whether any set could not be had."""
        unavailable = False
        for url in urls:
            try:
                key = _pick_key(await self._jwks.keys(url, refresh=refresh), kid, alg)
            except JWKSUnavailable:
                unavailable = True
                continue
            if key is not None:
                return key, unavailable
        return None, unavailable

    def _check_claims(
        self, claims: dict[str, Any], config: IssuerConfig, audience: str
    ) -> tuple[VerifiedClient, float, float]:
        """The client, when its token is remembered until (exp + leeway), and the instant it was judged at."""
        now = self._clock()
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        wanted = _strip_slash(audience)
        if not any(isinstance(a, str) and _strip_slash(a) == wanted for a in auds):
            raise AuthError("bad-audience")
        exp, iat, nbf = (_time_claim(claims, name) for name in ("exp", "iat", "nbf"))
        if exp is None or iat is None:
            raise AuthError("missing-claim")
        if now >= exp + self._leeway:
            raise AuthError("expired")
        if exp - iat > self._max_lifetime:
            raise AuthError("too-long-lived")
        if iat > now + self._leeway:
            raise AuthError("future-iat")
        if nbf is not None and nbf > now + self._leeway:
            raise AuthError("not-yet-valid")
        jti = claims.get("jti")
        if jti is None:
            raise AuthError("missing-jti")
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_CHARS:
            raise AuthError("bad-claim")
        sub, tenant = claims.get("sub"), claims.get("tenant")
        if not (sub is None or isinstance(sub, str)) or not (tenant is None or isinstance(tenant, str)):
            raise AuthError("bad-claim")
        if config.tenant is not None and tenant != config.tenant:
            raise AuthError("tenant-mismatch")
        client = VerifiedClient(iss=config.issuer, sub=sub, jti=jti, tenant=tenant, claims=claims)
        return client, exp + self._leeway, now


def _bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise AuthError("missing-token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("bad-scheme")
    token = token.strip()
    if not token:
        raise AuthError("missing-token")
    if len(token) > _MAX_TOKEN_CHARS:
        raise AuthError("malformed")
    return token


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims *before* verification: only to choose the algorithm, the issuer and its key."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_B64URL.fullmatch(p) for p in parts):
        raise AuthError("malformed")
    try:
        header, claims = (json.loads(_b64url_decode(p)) for p in parts[:2])
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise AuthError("malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("malformed")
    return header, claims


def _b64url_decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as exc:
        raise ValueError("bad base64url") from exc


def _check_header(header: dict[str, Any]) -> tuple[str, str]:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise AuthError("bad-alg")
    if "typ" in header and header["typ"] != "JWT":
        raise AuthError("bad-header")
    if "crit" in header:
        raise AuthError("bad-header")  # we implement no JWS extensions (e.g. unencoded payloads)
    if "jku" in header and not _is_http_url(header["jku"]):
        raise AuthError("bad-jku")  # malformed: refused. A well-formed jku that is not configured is ignored.
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError("missing-kid")
    return alg, kid


def _is_http_url(value: object) -> bool:
    # The same test joserfc applies to `jku` later; made here so a malformed one has its own code.
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _key_urls(config: IssuerConfig, jku: str | None) -> list[str]:
    """The issuer's configured JWK Set URLs (`jwks_url`, then the `jku` allowlist), the token's `jku` first if listed.

    Exact string match: a near miss (case, trailing slash, userinfo) is simply not on the list, and since only
    configured strings are ever fetched, no spelling of a URL can make us fetch another one.
    """
    configured = ([config.jwks_url] if config.jwks_url is not None else []) + sorted(config.jku - {config.jwks_url})
    if jku in configured:
        return [jku, *(u for u in configured if u != jku)]
    if jku is not None:
        _log.debug("token jku %s is not configured for issuer %s: ignored", _printable(jku), _printable(config.issuer))
    return configured


def _pick_key(keys: tuple[Key, ...] | list[Key], kid: str, alg: str) -> Key | None:
    """The key with this `kid` that fits `alg`; None if no key has the kid; AuthError if it has but doesn't fit."""
    candidates = [k for k in keys if k.kid == kid]
    if not candidates:
        return None
    for key in candidates:
        if _key_fits(key, alg):
            return key
    raise AuthError("bad-key")


def _key_fits(key: Key, alg: str) -> bool:
    kty, curve = ALGORITHMS[alg]
    if key.alg is not None and key.alg != alg:
        return False
    if kty == "EC":
        return isinstance(key, ECKey) and key.curve_name == curve
    return isinstance(key, RSAKey) and key.public_key.key_size >= MIN_RSA_BITS


def _verify_signature(token: str, key: Key, alg: str) -> dict[str, Any]:
    try:
        verified = jws.deserialize_compact(token, key, registry=_REGISTRIES[alg])
    except BadSignatureError:
        raise AuthError("bad-signature") from None
    except (JoseError, ValueError, TypeError):
        raise AuthError("malformed") from None
    if verified.headers().get("alg") != alg or verified.payload is None:
        raise AuthError("malformed")
    try:
        claims = json.loads(verified.payload)
    except (ValueError, RecursionError):
        raise AuthError("malformed") from None
    if not isinstance(claims, dict):
        raise AuthError("malformed")
    return claims


def _time_claim(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError("bad-claim")
    try:
        seconds = float(value)  # an int of 400 digits is valid JSON, and no float: OverflowError, was a 500
    except OverflowError:
        raise AuthError("bad-claim") from None
    if not math.isfinite(seconds):
        raise AuthError("bad-claim")
    return seconds


def _strip_slash(url: str) -> str:
    return url[:-1] if url.endswith("/") else url


def _printable(value: str | None) -> str:
    # Issuer and kid come from an unverified token: escape and truncate them so a log line stays one line.
    return "-" if value is None else ascii(value[:200])
