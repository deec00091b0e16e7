"""What the service holds while it runs: settings, the profile, the CDS services and their handlers, the store, the
FHIR connection pool and the client authenticator. Built once at start-up from `Settings`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from fastapi import Request

from cds_cyto.cds.answer_pool import AnswerPool, site_profile
from cds_cyto.cds.auth import ClientAuthenticator, IssuerConfig, parse_trusted_issuers
from cds_cyto.cds.discovery import ServiceDefinition, load_services
from cds_cyto.cds.patient_view import PatientViewService
from cds_cyto.core.profile import Profile
from cds_cyto.settings import Settings
from cds_cyto.sources import BundleFileSource, FetchLimits, FhirPool, PatientSource, default_observation_codes
from cds_cyto.store import Store
from cds_cyto.store.replay import DatabaseReplayStore

__all__ = ["Runtime", "runtime_of", "store_of"]


@dataclass
class Runtime:
    settings: Settings
    profile: Profile
    services: dict[str, ServiceDefinition]
    handlers: dict[str, PatientViewService]
    store: Store
    pool: FhirPool
    authenticator: ClientAuthenticator | None
    issuers: dict[str, IssuerConfig]
    answers: AnswerPool | None = None  # large hook calls in worker processes (None: in this one)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        profile = site_profile(settings)
        services = load_services(settings.hooks_dir, default_observation_codes(profile))
        store = Store(settings.database_url)
        store.create_schema()
        pool = FhirPool(max_connections=settings.fhir_pool_connections, max_origins=settings.fhir_pool_origins)
        limits = FetchLimits(
            max_response_bytes=settings.fhir_max_response_bytes,
            max_client_bytes=settings.hook_max_fetch_bytes,
            max_page_entries=settings.fhir_max_page_entries,
            max_pages=settings.fhir_max_pages,
        )
        # Synthetic patients only when the demo is asked for: without it, the hook answers from the prefetch and
        # the request's fhirServer, or with 412 (issue 15: production never serves synthetic data).
        demo: PatientSource | None = None
        if settings.demo:
            demo = BundleFileSource(settings.demo_dir)
            demo.load()  # read the demo files at start-up, not on the first clinician's call
        tz = ZoneInfo(settings.timezone)
        fixed = settings.as_of
        today: Callable[[], date] = (lambda: fixed) if fixed else (lambda: datetime.now(tz).date())
        handlers = {
            sid: PatientViewService(
                s,
                profile,
                pool,
                settings.public_base_url,
                demo,
                today,
                settings.fetch_timeout_s,
                deadline_s=settings.hook_deadline_s,
                limits=limits,
                page_size=min(settings.fhir_page_size, settings.fhir_max_page_entries),  # a fuller page is refused
                snapshots=store.engine if settings.hook_swept_snapshots else None,
            )
            for sid, s in services.items()
            if s.hook == "patient-view"
        }
        authenticator = None
        issuers: dict[str, IssuerConfig] = {}
        if settings.auth == "required":
            issuers = parse_trusted_issuers(settings.trusted_issuers)
            authenticator = ClientAuthenticator(
                issuers,
                max_lifetime=settings.token_max_lifetime_s,
                replay=DatabaseReplayStore(store.engine),  # shared by every worker and replica on this database
            )
        answers = None
        if settings.parse_processes > 0:
            answers = AnswerPool(
                settings,
                settings.parse_processes,
                settings.parse_queue,
                settings.parse_process_min_bytes,
                settings.parse_inline_max_bytes,
            )
        return cls(settings, profile, services, handlers, store, pool, authenticator, issuers, answers)

    async def aclose(self) -> None:
        if self.answers is not None:
            await asyncio.to_thread(self.answers.close)  # waits for its workers to finish their calls
        await self.pool.aclose()
        if self.authenticator is not None:
            await self.authenticator.aclose()
        self.store.dispose()


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def store_of(request: Request) -> Store:
    return runtime_of(request).store
