"""Service settings: environment variables (prefix CDS_CYTO_) and an optional config file.

Built when the service starts (never at import), so tests and the CLI can make their own.
"""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "repo_path"]

_REPO = Path(__file__).resolve().parent.parent


def repo_path(*parts: str) -> Path:
    """A path in the source checkout (hooks/, fixtures/); the Docker image copies them to the same layout."""
    return _REPO.joinpath(*parts)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_CYTO_", env_file=None, extra="ignore")

    fhir_base_url: str | None = Field(
        default=None, description="FHIR server for sweeps and fallback fetches; unset = the embedded demo cohort"
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="the external URL of this service; JWT `aud` is checked against it"
    )
    trusted_issuers: str = Field(default="{}", description="JSON: issuer → {jwks_url | jwks, jku?, tenant?}")
    auth: Literal["required", "disabled"] = "required"
    database_url: str = Field(default_factory=lambda: f"sqlite:///{_REPO / 'var' / 'cds-cyto.sqlite'}")
    cors_origins: list[str] = Field(default_factory=list)
    site_file: Path | None = None
    hooks_dir: Path = Field(default_factory=lambda: repo_path("hooks"))
    demo_dir: Path = Field(default_factory=lambda: repo_path("fixtures", "cohort"))
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    timezone: str = Field(default="UTC", description="the site's time zone: which calendar day 'today' is")
    as_of: date | None = Field(
        default=None, description="evaluate as of this date instead of today (demos, tests, replaying a day)"
    )
    fetch_timeout_s: float = 8.0

    @field_validator("public_base_url")
    @classmethod
    def _absolute(cls, v: str) -> str:
        parsed = urlparse(v)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return v.rstrip("/")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip().startswith("["):
            return [o.strip() for o in v.split(",") if o.strip()]
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if "*" in self.cors_origins and self.auth != "disabled":
            raise ValueError("CORS origin '*' is only allowed with CDS_CYTO_AUTH=disabled")
        if self.auth == "disabled" and not _is_loopback(self.host):
            raise ValueError("CDS_CYTO_AUTH=disabled is for local development: bind to a loopback host")
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
