"""SMART App Launch 2.x, EHR launch, as a public client: discovery, authorization code with PKCE (S256), the token
exchange, and the user's identity from the verified id_token.

Nothing here logs or returns a token to the page: the token response is held in a server-side session
(`sessions.py`); the browser gets an opaque session id in an HttpOnly cookie. Errors carry a sentence for the page
and never the server's answer (it could quote a code or a token).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from cds_cyto.screen.smart_config import SmartApp

__all__ = [
    "SCOPE",
    "STANDALONE_SCOPE",
    "Endpoints",
    "SmartError",
    "TokenGrant",
    "authorize_url",
    "discover",
    "exchange",
    "pkce_pair",
]

# Patient data read-only, the launch context, and who the user is. A standalone launch (no EHR `launch`) asks the
# authorization server to pick the patient instead.
SCOPE = "launch openid fhirUser patient/*.rs"
STANDALONE_SCOPE = "launch/patient openid fhirUser patient/*.rs"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class SmartError(Exception):
    """A launch that cannot go on: a sentence for the page (never a token, code or server message)."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorize: str
    token: str
    jwks_uri: str | None
    issuer: str | None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    patient: str
    user: str | None  # fhirUser (else sub) of a verified id_token; None: who it is was not proven
    expires_in: int
    app_context: str | None


def _allowed_url(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost"))


async def discover(iss: str) -> Endpoints:
    """{iss}/.well-known/smart-configuration: the endpoints, and S256 among the PKCE methods (SMART 2.0 requires it)."""
    url = iss.rstrip("/") + "/.well-known/smart-configuration"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as http:
            r = await http.get(url, headers={"Accept": "application/json"})
        doc = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        raise SmartError("the EHR's SMART configuration could not be read") from None
    if not isinstance(doc, dict):
        raise SmartError("the EHR's SMART configuration could not be read")
    authorize, token = doc.get("authorization_endpoint"), doc.get("token_endpoint")
    if (
        not isinstance(authorize, str)
        or not isinstance(token, str)
        or not _allowed_url(authorize)
        or not _allowed_url(token)
    ):
        raise SmartError("the EHR's SMART configuration names no usable authorization and token endpoints")
    if "S256" not in (doc.get("code_challenge_methods_supported") or []):
        raise SmartError("the EHR's authorization server does not offer PKCE with S256")
    jwks = doc.get("jwks_uri")
    issuer = doc.get("issuer")
    return Endpoints(
        authorize, token, jwks if _allowed_url(jwks) else None, issuer if isinstance(issuer, str) else None
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(ep: Endpoints, app: SmartApp, iss: str, launch: str | None, state: str, challenge: str) -> str:
    """The authorization request: an EHR launch when `launch` is given, else a standalone launch."""
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        **({"launch": launch} if launch is not None else {}),
        "scope": SCOPE if launch is not None else STANDALONE_SCOPE,
        "state": state,
        "aud": iss,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return ep.authorize + ("&" if "?" in ep.authorize else "?") + urlencode(query)


async def exchange(ep: Endpoints, app: SmartApp, code: str, verifier: str) -> TokenGrant:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "client_id": app.client_id,
        "code_verifier": verifier,
    }
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as http:
            r = await http.post(ep.token, data=form, headers={"Accept": "application/json"})
            body = r.json() if r.status_code == 200 else None
            user = await _user(http, ep, app, body.get("id_token")) if isinstance(body, dict) else None
    except (httpx.HTTPError, ValueError):
        raise SmartError("the authorization server could not be reached to finish the sign-in") from None
    if not isinstance(body, dict):
        raise SmartError("the authorization server refused the sign-in (the code may have expired): launch again")
    token, patient = body.get("access_token"), body.get("patient")
    if not isinstance(token, str) or not token or body.get("token_type", "").lower() != "bearer":
        raise SmartError("the authorization server's answer holds no bearer token")
    if not isinstance(patient, str) or not patient:
        raise SmartError("the launch names no patient: open the app from a patient's chart")
    expires = body.get("expires_in")
    context = body.get("appContext")
    return TokenGrant(
        token,
        patient,
        user,
        int(expires) if isinstance(expires, int | float) and expires > 0 else 300,
        context if isinstance(context, str) else None,
    )


async def _user(http: httpx.AsyncClient, ep: Endpoints, app: SmartApp, id_token: Any) -> str | None:
    """The user the verified id_token names (fhirUser, else sub); None when there is none or it does not verify."""
    if not isinstance(id_token, str) or ep.jwks_uri is None or ep.issuer is None:
        return None  # no issuer to hold the id_token's `iss` to: it proves nobody (SMART 2.0 requires `issuer`)
    r = await http.get(ep.jwks_uri, headers={"Accept": "application/json"})
    if r.status_code != 200:
        return None
    try:
        keys = KeySet.import_key_set(r.json())
        claims = jwt.decode(id_token, keys, algorithms=["RS256", "RS384", "ES256", "ES384"]).claims
        registry = jwt.JWTClaimsRegistry(
            leeway=60,
            aud={"essential": True, "value": app.client_id},
            exp={"essential": True},
            iss={"essential": True, "value": ep.issuer},
        )
        registry.validate(claims)
    except (JoseError, ValueError, TypeError):
        return None
    user = claims.get("fhirUser") or claims.get("sub")
    return user[:200] if isinstance(user, str) and user else None
