"""JWK Sets of trusted CDS clients: parsed into signing keys, fetched by URL, cached, refreshed at a bounded rate.

Only URLs from the trusted-issuer configuration ever reach this module, so it cannot be used to make us fetch an
arbitrary address. Every failure raises JWKSUnavailable; callers must reject the token (never fail open).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

__all__ = ["MIN_RSA_BITS", "JWKSCache", "JWKSUnavailable", "signing_keys"]

MIN_RSA_BITS = 2048

_log = logging.getLogger(__name__)

# A real JWK Set is a few KiB; anything much bigger is a misconfiguration or an attack on our memory.
_MAX_JWKS_BYTES = 256 * 1024


class JWKSUnavailable(Exception):
    """No usable JWK Set for a URL right now (fetch failed, or a recent failure is still being waited out)."""


def signing_keys(jwks: object) -> list[Key]:
    """The RSA and EC keys of a JWK Set that may verify signatures.

    Keys we cannot use (other types, RSA under 2048 bits, `use: enc`, no `verify` in `key_ops`, unparsable) are
    skipped rather than fatal: an EHR may publish encryption keys next to its signing keys.
    """
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("a JWK Set is a JSON object with a 'keys' array")
    keys: list[Key] = []
    for entry in jwks["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC"):
            continue
        if entry.get("use", "sig") != "sig" or _weak_rsa(entry):
            continue
        ops = entry.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        try:
            keys.append(JWKRegistry.import_key(entry))
        except (JoseError, ValueError, TypeError, KeyError):
            continue
    return keys


def _weak_rsa(entry: dict[str, object]) -> bool:
    # Checked before import: joserfc would only warn about a short modulus, and we never verify with one.
    n = entry.get("n")
    if entry.get("kty") != "RSA" or not isinstance(n, str):
        return False
    try:
        modulus = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return True
    return int.from_bytes(modulus, "big").bit_length() < MIN_RSA_BITS


@dataclass
class _Entry:
    keys: list[Key] | None = None  # last set fetched successfully
    fetched_at: float = float("-inf")
    refreshed_at: float = float("-inf")  # last early refresh (unknown kid)
    failed_at: float = float("-inf")  # last failed fetch
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JWKSCache:
    """Per-URL cache of fetched JWK Sets.

    A set is reused for `ttl` seconds. `refresh=True` (the caller saw an unknown `kid`) refetches early, but at
    most once per `min_refresh_interval` per URL whatever tokens an attacker sends; after a failed fetch the same
    interval passes before the next try. Concurrent callers share one fetch.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
        ttl: float = 3600.0,
        min_refresh_interval: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._entries: dict[str, _Entry] = {}

    async def keys(self, url: str, *, refresh: bool = False) -> list[Key]:
        entry = self._entries.setdefault(url, _Entry())
        if not refresh and entry.keys is not None and self._clock() - entry.fetched_at < self._ttl:
            return entry.keys
        async with entry.lock:
            now = self._clock()
            fresh = entry.keys if entry.keys is not None and now - entry.fetched_at < self._ttl else None
            if fresh is not None and (not refresh or now - entry.refreshed_at < self._min_refresh_interval):
                return fresh
            if now - entry.failed_at < self._min_refresh_interval:
                if fresh is not None:
                    return fresh
                raise JWKSUnavailable(f"{url}: last fetch failed less than {self._min_refresh_interval:g} s ago")
            if refresh:
                entry.refreshed_at = now
            try:
                keys = await self._fetch(url)
            except JWKSUnavailable as exc:
                _log.warning("JWKS fetch failed, next try in %g s: %s", self._min_refresh_interval, exc)
                entry.failed_at = now
                if fresh is not None:
                    return fresh  # a failed early refresh does not throw away keys that are still valid
                raise
            entry.keys, entry.fetched_at = keys, now
            return keys

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _fetch(self, url: str) -> list[Key]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        body = bytearray()
        try:
            # httpx timeouts are per read; the outer deadline also stops a server that drips bytes slowly.
            async with asyncio.timeout(self._timeout):
                async with self._client.stream(
                    "GET", url, headers={"Accept": "application/json"}, timeout=self._timeout, follow_redirects=False
                ) as response:
                    if response.status_code != 200:
                        raise JWKSUnavailable(f"{url}: HTTP {response.status_code}")
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > _MAX_JWKS_BYTES:
                            raise JWKSUnavailable(f"{url}: JWK Set larger than {_MAX_JWKS_BYTES} bytes")
        except (httpx.HTTPError, TimeoutError) as exc:
            raise JWKSUnavailable(f"{url}: {type(exc).__name__}") from exc
        try:
            return signing_keys(json.loads(body))
        except ValueError as exc:
            raise JWKSUnavailable(f"{url}: not a JWK Set") from exc
