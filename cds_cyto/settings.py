"""Service settings: environment variables (prefix CDS_CYTO_) and an optional config file.

Built when the service starts (never at import), so tests and the CLI can make their own.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "describe_settings_error", "repo_path"]

_REPO = Path(__file__).resolve().parent.parent


def repo_path(*parts: str) -> Path:
    """A path in the source checkout (hooks/, fixtures/); the Docker image copies them to the same layout."""
    return _REPO.joinpath(*parts)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_CYTO_", env_file=None, extra="ignore")

    fhir_base_url: str | None = Field(
        default=None, description="the site's FHIR server for sweeps (the hook fetches from the request's fhirServer)"
    )
    demo: bool = Field(
        default=False, description="`serve --demo`: the bundled synthetic cohort as patient source (never otherwise)"
    )
    demo_public_bind: bool = Field(
        default=False, description="`serve --demo --host H` given explicitly: the unauthenticated demo may bind H"
    )
    # Unset: http://HOST:PORT of this process (a wildcard bind as 127.0.0.1), so `--port 8013` links cards to 8013.
    public_base_url: str = Field(
        default="", description="the external URL of this service; JWT `aud` is checked against it"
    )
    trusted_issuers: str = Field(default="{}", description="JSON: issuer → {jwks_url | jwks, jku?, tenant?}")
    auth: Literal["required", "disabled"] = "required"
    token_max_lifetime_s: int = Field(default=300, ge=1, le=86_400, description="a client JWT's maximum exp − iat")
    # Every worker and replica shares the database's token-replay store, so more than one is safe (issue 15).
    workers: int = Field(default=1, ge=1, le=64, description="`serve`: uvicorn worker processes")
    database_url: str = Field(default_factory=lambda: f"sqlite:///{_REPO / 'var' / 'cds-cyto.sqlite'}")
    # NoDecode: the environment value is ours to read (comma-separated, one origin, or a JSON list), not pydantic's.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    site_file: Path | None = None
    site_model: Path | None = Field(
        default=None, description="a site model artifact (`cds-cyto analyze` writes site_model.json) to score on cards"
    )
    hooks_dir: Path = Field(default_factory=lambda: repo_path("hooks"))
    demo_dir: Path = Field(default_factory=lambda: repo_path("fixtures", "cohort"))
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    timezone: str = Field(default="UTC", description="the site's time zone: which calendar day 'today' is")
    as_of: date | None = Field(
        default=None, description="evaluate as of this date instead of today (demos, tests, replaying a day)"
    )
    fetch_timeout_s: float = 8.0
    # Cohort sweeps (issue 7): `cds-cyto sweep`, and a job inside `serve` when a schedule is set.
    sweep_interval_minutes: int | None = Field(default=None, ge=1, description="sweep every N minutes in serve")
    sweep_cron: str | None = Field(default=None, description="or a crontab line in the site time zone, '0 6 * * *'")
    sweep_lookback_days: int = Field(default=100, ge=1, description="cohort: a CAR-T infusion in the last N days")
    sweep_group_id: str | None = Field(default=None, description="cohort: the members of this FHIR Group instead")
    sweep_concurrency: int = Field(default=4, ge=1, le=32)
    sweep_full_refresh_days: int | None = Field(
        default=7, ge=1, description="refetch a patient in full after N days: _lastUpdated never shows deletions"
    )
    sweep_write_back: bool = Field(default=False, description="PUT a RiskAssessment and Flags back to the server")
    sweep_lease_seconds: int = Field(default=300, ge=10)
    sweep_tenant: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="the `tenant` of the trusted issuer whose patients the sweep's FHIR server holds (worklist scope)",
    )
    # SMART Backend Services credentials for unattended sweeps (all four, or none: no auth).
    smart_token_url: str | None = None
    smart_client_id: str | None = None
    smart_private_key_file: Path | None = None
    smart_key_id: str | None = None
    smart_alg: Literal["RS384", "ES384"] = "RS384"
    smart_scope: str | None = Field(default=None, description="default: system/*.read (+ writes for write-back)")

    @field_validator("public_base_url")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v:
            return v  # filled from host and port once they are known (_safe)
        parsed = urlparse(v)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return v.rstrip("/")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().startswith("["):
            try:
                return json.loads(v)
            except ValueError:
                raise ValueError("expected comma-separated origins or a JSON list of strings") from None
        if isinstance(v, str):
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
        if not self.public_base_url:
            self.public_base_url = f"http://{_url_host(self.host)}:{self.port}"
        if "*" in self.cors_origins and self.auth != "disabled":
            raise ValueError("CORS origin '*' is only allowed with CDS_CYTO_AUTH=disabled")
        if self.auth == "disabled" and not _is_loopback(self.host) and not (self.demo and self.demo_public_bind):
            raise ValueError(
                "CDS_CYTO_AUTH=disabled is for local development: bind to a loopback host"
                " (the demo binds another host only when given on the command line: serve --demo --host 0.0.0.0)"
            )
        if self.demo and not self.demo_dir.is_dir():
            raise ValueError(f"the demo needs its cohort: CDS_CYTO_DEMO_DIR {str(self.demo_dir)!r} is not a directory")
        if self.sweep_interval_minutes is not None and self.sweep_cron:
            raise ValueError("set CDS_CYTO_SWEEP_INTERVAL_MINUTES or CDS_CYTO_SWEEP_CRON, not both")
        smart = (self.smart_token_url, self.smart_client_id, self.smart_private_key_file, self.smart_key_id)
        if any(smart) and not all(smart):
            raise ValueError("SMART backend auth needs token URL, client id, private key file and key id together")
        return self

    # Limits for FHIR servers and hook calls (issue 15 item 1)
    # Checked while the bytes arrive, never after a whole body: a server (or client) that sends more is cut off.
    fhir_max_response_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="one FHIR response body; reading stops past it"
    )
    hook_max_fetch_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="every FHIR response of one hook call together"
    )
    fhir_max_page_entries: int = Field(default=10_000, ge=1, description="entries in one searchset page")
    fhir_max_pages: int = Field(default=20, ge=1, description="pages followed for one search")
    # The service's own fetches ask this `_count` (the prefetch templates keep what an EHR accepts): a patient in
    # as few pages as the server allows — HAPI cuts it to its max page size (1000 unless raised) and pages on.
    fhir_page_size: int = Field(default=2000, ge=1, le=10_000, description="_count of the service's own searches")
    # A patient the sweep has seen is answered at the hook from its snapshot plus what changed since (verified).
    hook_swept_snapshots: bool = Field(
        default=True, description="hook fetches start from the sweep's snapshot of the patient (same server, tenant)"
    )
    hook_deadline_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="one hook call that fetches ends by then: every query, page, retry and wait, and its 412",
    )
    fhir_pool_connections: int = Field(default=10, ge=1, le=1000, description="connections per FHIR server origin")
    fhir_pool_origins: int = Field(default=64, ge=1, le=10_000, description="FHIR server origins that keep a pool")
    max_request_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="a hook or feedback request body; refused (413) as it passes"
    )
    request_read_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="to receive a request body once its headers came; else 408"
    )
    # Large hook calls are read and assessed in worker processes, so the event loop's GIL stays free (/healthz).
    # Two: with one, calls at concurrency 8 queued behind it (1.9-2.0 × the parse floor; two: 1.1-1.2). Each step
    # of a call goes to the process that parked it (answer_pool).
    parse_processes: int = Field(
        default=2, ge=0, le=64, description="worker processes per serve worker for large hook calls; 0: in-thread"
    )
    parse_queue: int = Field(default=64, ge=1, le=10_000, description="large calls in those processes at once; 503")
    parse_process_min_bytes: int = Field(
        default=256 * 1024, ge=0, description="a hook body at least this large goes to a worker process"
    )
    parse_inline_max_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="a large call this size or less is answered in-thread while no other large call is; 0: never",
    )


def describe_settings_error(exc: Exception) -> str:
    """One line for a settings error: each setting by its environment name, what was expected; never the value."""
    if isinstance(exc, ValidationError):
        parts = []
        for e in exc.errors():
            loc = e["loc"]
            name = f"CDS_CYTO_{str(loc[0]).upper()}" if loc else ""
            msg = str(e["msg"]).removeprefix("Value error, ")
            parts.append(f"{name}: {msg}" if name else msg)
        return "; ".join(parts)
    text = str(exc)  # pydantic-settings: 'error parsing value for field "x" from source "EnvSettingsSource"'
    field = text.split('"')[1] if text.count('"') >= 2 else ""
    if field:
        return f"CDS_CYTO_{field.upper()}: could not be parsed (expected JSON for this setting)"
    return "the settings could not be read"


def _url_host(host: str) -> str:
    """The host as written in a URL: a wildcard bind is reached on loopback; an IPv6 address goes in brackets."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
