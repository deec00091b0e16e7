"""The SMART app's registration with the site's EHRs, from CDS_CYTO_SMART_APP_* environment variables.

- `CDS_CYTO_SMART_APP_CLIENT_ID`: the client id the EHR's authorization server gave the app (a public client: PKCE,
  no secret). Unset: no SMART launch; the pages then open only with auth disabled (development, the demo).
- `CDS_CYTO_SMART_APP_ISSUERS`: JSON object, FHIR base URL (`iss`) → `{"tenant": T}`; only these `iss` may launch
  the app (anything else is refused before any request is made), and a user launched from `iss` sees the worklist
  of tenant T (no tenant: the timeline only).

The redirect URI is CDS_CYTO_PUBLIC_BASE_URL + /app/callback; cookies are Secure unless that URL is loopback http.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cds_cyto.core.profile import ProfileError

__all__ = ["CALLBACK_PATH", "ScreenConfigError", "SmartApp", "normalise_url", "smart_app_from_environment"]

CALLBACK_PATH = "/app/callback"


class ScreenConfigError(ProfileError):
    """A SMART app setting that cannot be used. A ProfileError, so `serve` stops with one line as for a site file."""


class _Env(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_CYTO_SMART_APP_", env_file=None, extra="ignore")

    client_id: str | None = Field(default=None, min_length=1, max_length=200)
    issuers: str = "{}"


@dataclass(frozen=True, slots=True)
class SmartApp:
    client_id: str
    issuers: dict[str, str | None]  # normalised iss → tenant
    redirect_uri: str
    secure_cookies: bool
    public_base_url: str

    # Outside loopback the cookies are `__Host-` cookies: Secure, no Domain, Path=/, so no sibling subdomain can
    # plant a session or a launch of its own in the browser (cookie tossing). On loopback http they cannot be.
    @property
    def cookie_path(self) -> str:
        return "/" if self.secure_cookies else "/app"

    @property
    def session_cookie(self) -> str:
        return ("__Host-" if self.secure_cookies else "") + "cds_cyto_session"

    @property
    def state_cookie(self) -> str:
        return ("__Host-" if self.secure_cookies else "") + "cds_cyto_launch"

    def tenant_of(self, iss: str) -> str | None:
        return self.issuers.get(normalise_url(iss))

    def allows(self, iss: str) -> bool:
        return normalise_url(iss) in self.issuers


def normalise_url(url: str) -> str:
    """Scheme and host in lower case, default port dropped, no trailing slash: one spelling per server."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def _loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") in ("127.0.0.1", "localhost", "::1")


def smart_app_from_environment(public_base_url: str) -> SmartApp | None:
    try:
        env = _Env()
    except ValidationError:
        raise ScreenConfigError("CDS_CYTO_SMART_APP_CLIENT_ID: expected 1–200 characters") from None
    if env.client_id is None:
        return None
    try:
        raw = json.loads(env.issuers)
    except ValueError:
        raise ScreenConfigError("CDS_CYTO_SMART_APP_ISSUERS: expected a JSON object") from None
    if not isinstance(raw, dict) or not raw:
        raise ScreenConfigError("CDS_CYTO_SMART_APP_ISSUERS: expected a non-empty JSON object (iss → {tenant})")
    issuers: dict[str, str | None] = {}
    for iss, entry in raw.items():
        scheme = urlsplit(iss).scheme
        if scheme != "https" and not _loopback_http(iss):
            raise ScreenConfigError("CDS_CYTO_SMART_APP_ISSUERS: each iss must be https (http only to loopback)")
        tenant = entry.get("tenant") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or set(entry) - {"tenant"} or not isinstance(tenant, str | None):
            raise ScreenConfigError('CDS_CYTO_SMART_APP_ISSUERS: each entry is {"tenant": "<tenant>"} or {}')
        issuers[normalise_url(iss)] = tenant
    base = public_base_url.rstrip("/")
    if urlsplit(base).scheme != "https" and not _loopback_http(base):
        # a Secure cookie is never sent over plain http: the sign-in could not finish (and the token would travel)
        raise ScreenConfigError("CDS_CYTO_PUBLIC_BASE_URL: the SMART app needs https (http only on loopback)")
    return SmartApp(env.client_id, issuers, base + CALLBACK_PATH, not _loopback_http(base), base)
