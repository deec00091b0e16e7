"""How a FhirClient authenticates: no auth, a bearer token handed to us, or SMART backend services.

A strategy gives the headers for the next request and may be told that the server rejected them (401). Only
SMART backend auth can do anything about that: it drops its cached token and fetches a new one.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from ._errors import FhirProtocolError

__all__ = ["Auth", "BearerToken", "NoAuth", "PostForm", "SmartBackendAuth"]

# Posts an url-encoded form and returns the JSON answer; the FhirClient supplies it, so token requests share
# its connection pool, retries, error mapping and round-trip counts.
PostForm = Callable[[str, Mapping[str, str]], Awaitable[dict[str, Any]]]

_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Auth(Protocol):
    async def headers(self, post_form: PostForm) -> Mapping[str, str]:
        """Headers that authorise the next request."""
        ...

    def invalidate(self) -> bool:
        """The server answered 401: forget cached credentials. True when a retry could succeed."""
        ...


class NoAuth:
    async def headers(self, post_form: PostForm) -> Mapping[str, str]:
        return {}

    def invalidate(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NoAuth()"


class BearerToken:
    """A token someone else obtained, e.g. the CDS Hooks `fhirAuthorization.access_token`."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("BearerToken needs a non-empty token")
        self._token = token

    async def headers(self, post_form: PostForm) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> bool:
        return False  # we cannot get another one

    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"


@dataclass(frozen=True, slots=True)
class _CachedToken:
    value: str
    refresh_at: float  # clock time after which we fetch a new one


class SmartBackendAuth:
    """SMART Backend Services: client-credentials grant with a signed JWT client assertion.

    The access token is cached until shortly before it expires (a tenth of its lifetime, at most a minute), and
    concurrent requests share one token request.
    """

    assertion_lifetime = 300  # seconds; SMART asks for no more than five minutes

    def __init__(
        self,
        token_url: str,
        client_id: str,
        private_key_pem: str | bytes,
        kid: str,
        *,
        scope: str,
        alg: Literal["RS384", "ES384"] = "RS384",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.kid = kid
        self.scope = scope
        self.alg = alg
        self._clock = clock
        # Import now so a wrong key or algorithm fails at configuration time, not on the first patient.
        key_type = RSAKey if alg == "RS384" else ECKey
        try:
            self._key = key_type.import_key(private_key_pem)
        except (JoseError, ValueError, TypeError) as exc:
            raise ValueError(f"SmartBackendAuth: not a {alg} private key in PEM form") from exc
        self._token: _CachedToken | None = None
        self._lock = asyncio.Lock()

    async def headers(self, post_form: PostForm) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self._access_token(post_form)}"}

    def invalidate(self) -> bool:
        self._token = None
        return True

    def client_assertion(self) -> str:
        """A fresh signed JWT that authenticates this client at the token endpoint."""
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "exp": int(self._clock()) + self.assertion_lifetime,
            "jti": secrets.token_urlsafe(24),  # single use: the server may refuse a replay
        }
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._key, algorithms=[self.alg])

    async def _access_token(self, post_form: PostForm) -> str:
        async with self._lock:
            token = self._token
            if token is None or self._clock() >= token.refresh_at:
                token = self._token = await self._request_token(post_form)
            return token.value

    async def _request_token(self, post_form: PostForm) -> _CachedToken:
        requested_at = self._clock()
        body = await post_form(
            self.token_url,
            {
                "grant_type": "client_credentials",
                "scope": self.scope,
                "client_assertion_type": _ASSERTION_TYPE,
                "client_assertion": self.client_assertion(),
            },
        )
        value = body.get("access_token")
        token_type = body.get("token_type")
        if not isinstance(value, str) or not value:
            raise FhirProtocolError("token response has no access_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise FhirProtocolError("token response is not a bearer token")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 300.0
        return _CachedToken(value, requested_at + lifetime - min(60.0, lifetime / 10))

    def __repr__(self) -> str:
        return f"SmartBackendAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, alg={self.alg!r})"
