"""What a sweep needs to know, built at the door (CLI or scheduler) from Settings — including today's date.

The clock is read here, never in the sweep: `as_of` is the site's calendar day (settings.timezone), or the fixed
settings.as_of for demos and replays.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cds_cyto.settings import Settings
from cds_cyto.sources import Auth, SmartBackendAuth

__all__ = ["CohortQuery", "SweepConfig", "backend_auth", "site_today", "sweep_config"]

READ_SCOPE = "system/*.read"
WRITE_SCOPE = "system/RiskAssessment.write system/Flag.write"


@dataclass(frozen=True, slots=True)
class CohortQuery:
    """Who is swept: recent CAR-T infusions (default), a FHIR Group's members, or a fixed list of ids."""

    lookback_days: int = 100
    group_id: str | None = None
    patient_ids: tuple[str, ...] | None = None

    def describe(self) -> str:
        if self.patient_ids is not None:
            return f"{len(self.patient_ids)} listed patient(s)"
        if self.group_id is not None:
            return "the members of a FHIR Group"
        return f"CAR-T infusions in the last {self.lookback_days} day(s)"


@dataclass(frozen=True, slots=True)
class SweepConfig:
    fhir_base_url: str
    as_of: date
    cohort: CohortQuery = field(default_factory=CohortQuery)
    full: bool = False  # refetch everyone in full (deletions become visible) instead of what changed
    full_refresh_days: int | None = 7  # a patient's last full fetch older than this → full fetch this time
    concurrency: int = 4
    write_back: bool = False
    lease_seconds: float = 300.0
    # Changes are asked for from this long before the last fetch began: resources committed while we read, and
    # clock skew between us and the server. Seen twice is harmless: the merge keeps one copy.
    overlap_seconds: float = 120.0
    page_size: int | None = None  # None: the patient source's default (the server caps it anyway)
    # One batch round trip per patient. True by default because HAPI FHIR accepts batch without listing it in its
    # CapabilityStatement; None asks the CapabilityStatement (a server that lists no batch gets separate searches).
    use_batch: bool | None = True
    fetch_timeout_s: float = 120.0
    # The tenant whose FHIR server this is: stamped on each patient and alert, so the worklist shows them only to
    # callers of that tenant. None: visible only with auth disabled.
    tenant: str | None = None


def untenanted_warning(settings: Settings) -> str | None:
    """One line for a process that sweeps with auth required and no CDS_CYTO_SWEEP_TENANT, else None.

    A warning, not a refusal: the outcome fails closed (no authenticated caller sees untenanted patients, rather
    than every caller seeing them), `cds-cyto worklist` still shows them, and a site may sweep first and add
    tenants later. But a worklist that stays empty for every issuer is rarely what was meant: said at start-up.
    """
    if settings.auth != "required" or settings.sweep_tenant:
        return None
    return (
        "CDS_CYTO_SWEEP_TENANT is unset while CDS_CYTO_AUTH=required: the patients this sweep records have no"
        " tenant, so the worklist shows them to no authenticated caller (only `cds-cyto worklist` and"
        " CDS_CYTO_AUTH=disabled do); set it to the `tenant` of the trusted issuer whose FHIR server is swept"
    )


def site_today(settings: Settings, now: datetime | None = None) -> date:
    """The day a sweep evaluates: settings.as_of, else today in the site's time zone."""
    if settings.as_of is not None:
        return settings.as_of
    zone = ZoneInfo(settings.timezone)
    return (now.astimezone(zone) if now is not None else datetime.now(zone)).date()


def sweep_config(settings: Settings, *, as_of: date | None = None, **overrides: Any) -> SweepConfig:
    if not settings.fhir_base_url and "fhir_base_url" not in overrides:
        raise ValueError("no FHIR server: set CDS_CYTO_FHIR_BASE_URL (or pass --fhir)")
    config = SweepConfig(
        fhir_base_url=str(settings.fhir_base_url),
        as_of=as_of or site_today(settings),
        cohort=CohortQuery(lookback_days=settings.sweep_lookback_days, group_id=settings.sweep_group_id),
        full_refresh_days=settings.sweep_full_refresh_days,
        concurrency=settings.sweep_concurrency,
        write_back=settings.sweep_write_back,
        lease_seconds=float(settings.sweep_lease_seconds),
        page_size=min(settings.fhir_page_size, settings.fhir_max_page_entries),
        tenant=settings.sweep_tenant,
    )
    return replace(config, **overrides)


def backend_auth(settings: Settings, write_back: bool = False) -> Auth | None:
    """SMART Backend Services auth from settings, or None when no credentials are configured."""
    if not settings.smart_token_url:
        return None
    assert settings.smart_private_key_file and settings.smart_client_id and settings.smart_key_id  # settings check
    try:
        key = settings.smart_private_key_file.read_bytes()
    except OSError as exc:
        raise ValueError(f"SMART private key file unreadable ({exc.strerror})") from None
    scope = settings.smart_scope or (f"{READ_SCOPE} {WRITE_SCOPE}" if write_back else READ_SCOPE)
    return SmartBackendAuth(
        settings.smart_token_url,
        settings.smart_client_id,
        key,
        settings.smart_key_id,
        scope=scope,
        alg=settings.smart_alg,
    )
