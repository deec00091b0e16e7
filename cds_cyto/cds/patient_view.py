"""The patient-view service as small named steps: validate → get data → evaluate → render cards.

Holds no clinical rule: the core decides, this module only moves data in and cards out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from cds_cyto.cds.cards import render_cards
from cds_cyto.cds.discovery import ServiceDefinition
from cds_cyto.cds.fhir_servers import BaseUrl, normalise_base_url, server_allowed
from cds_cyto.cds.messages import HookRequest, PatientViewContext
from cds_cyto.cds.outcome import operation_outcome
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.extract.record import DataProblem
from cds_cyto.core.profile import Profile
from cds_cyto.sources import (
    BearerToken,
    FetchLimits,
    FhirPatientSource,
    FhirPool,
    NoAuth,
    PatientNotFound,
    PatientSource,
    PrefetchResult,
    PrefetchSource,
    PrefetchUnavailable,
    Readable,
    RetryPolicy,
    SourceError,
    Timeouts,
    default_observation_codes,
    swept_resources,
)
from cds_cyto.sources._offload import offload
from cds_cyto.store.patients import load_patient

__all__ = ["HookFailure", "PatientViewService", "fetch_failure", "validation_outcome"]

log = logging.getLogger("cds_cyto.cds")


# Time kept back from the fetching for the rest of a call that gives up (cancelling the reads, the 412): calls to a
# stalling server ended 0.06-0.10 s after a 4 s deadline on an idle machine (bench/bench_hostile.py).
ANSWER_RESERVE_S = 0.25


def fetch_budget(deadline_s: float) -> float:
    """The fetching's share of a call's deadline: all of it but the reserve, and never less than half."""
    return max(deadline_s / 2, deadline_s - ANSWER_RESERVE_S)


def deadline_label(deadline_s: float) -> str:
    # the deadline the site set, beside the fetching's share of it that the client names
    return f"hook call (deadline {deadline_s:g} s)"


class HookFailure(Exception):
    """A request the service cannot answer with cards: an HTTP status, an OperationOutcome, extra headers."""

    def __init__(self, status: int, outcome: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.outcome = outcome
        self.headers = dict(headers or {})


def fetch_failure(exc: SourceError) -> HookFailure:
    """The 412 of a call whose fetching failed as a whole (its deadline passed, the server could not be reached),
    in-thread and in the answer pool alike."""
    log.info("fetch failed", extra={"error": type(exc).__name__})
    return HookFailure(
        412,
        operation_outcome("data-unavailable", f"the patient's data could not be fetched: {exc}", fhir_code="transient"),
    )


def validation_outcome(exc: ValidationError, prefix: str = "") -> dict[str, Any]:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    expression = f"{prefix}{where}" if where else prefix.rstrip(".") or None
    return operation_outcome("invalid-request", f"{expression or 'request'}: {first['msg']}", expression=expression)


@dataclass
class PatientViewService:
    definition: ServiceDefinition
    profile: Profile
    pool: FhirPool
    public_base_url: str
    demo_source: PatientSource | None
    today: Callable[[], date]
    fetch_timeout_s: float = 8.0  # a hook answer is wanted in about a second: a slow EHR server must not hold it
    # One call ends by this deadline: its fetching — every query, page, retry and wait — stops ANSWER_RESERVE_S
    # before it, so the 412 is sent in time; what the server sends is counted against `limits` as it arrives
    # (`max_client_bytes`: the call's fetches together).
    deadline_s: float = 10.0
    limits: FetchLimits = field(default_factory=lambda: FetchLimits(max_client_bytes=64 * 1024 * 1024))
    page_size: int = 2000  # `_count` of this service's own searches (CDS_CYTO_FHIR_PAGE_SIZE)
    # The store whose sweep snapshots a fetching hook starts from (CDS_CYTO_HOOK_SWEPT_SNAPSHOTS; None: never).
    snapshots: Engine | None = None

    def _fetch_policy(self) -> dict[str, Any]:
        t = min(self.fetch_timeout_s, self.deadline_s)
        return {
            "timeouts": Timeouts(connect=min(3.0, t), read=t, total=self.deadline_s),
            "retry": RetryPolicy(attempts=2, backoff=0.2, max_backoff=1.0, max_retry_after=min(2.0, t)),
            "limits": self.limits,
        }

    def _validate(self, body: Any) -> tuple[HookRequest, PatientViewContext, dict[str, Any] | None]:
        if not isinstance(body, dict):
            raise HookFailure(400, operation_outcome("invalid-request", "the request body must be a JSON object"))
        prefetch = body.get("prefetch")
        if prefetch is not None and not isinstance(prefetch, dict):
            raise HookFailure(
                400, operation_outcome("invalid-request", "prefetch must be an object", expression="prefetch")
            )
        try:
            request = HookRequest.model_validate({k: v for k, v in body.items() if k != "prefetch"})
        except ValidationError as exc:
            raise HookFailure(400, validation_outcome(exc)) from None
        if request.hook != self.definition.hook:
            raise HookFailure(
                400,
                operation_outcome(
                    "wrong-hook", f"this service answers {self.definition.hook}, not {request.hook}", expression="hook"
                ),
            )
        try:
            context = PatientViewContext.model_validate(request.context)
        except ValidationError as exc:
            raise HookFailure(400, validation_outcome(exc, "context.")) from None
        return request, context, prefetch

    def _fallback(self, request: HookRequest, fhir_bases: Sequence[BaseUrl] | None) -> PatientSource | None:
        """Where missing data is fetched from. `fhir_bases`: the FHIR servers the caller's issuer may name (None:
        no allowlist, auth disabled); an issuer with none gets no fetching at all, its prefetch is the data."""
        if request.fhirServer is not None:
            server = str(request.fhirServer)
            if fhir_bases is not None and not fhir_bases:
                return None
            if fhir_bases is not None and not server_allowed(server, fhir_bases):
                log.info("fhirServer refused: not among the issuer's FHIR base URLs")
                raise HookFailure(
                    403,
                    operation_outcome(
                        "fhir-server-not-allowed",
                        "fhirServer is not among the FHIR base URLs configured for this issuer",
                        fhir_code="forbidden",
                        expression="fhirServer",
                    ),
                )
            return self._fhir_source(server, request)
        return self.demo_source

    def _fhir_source(self, server: str, request: HookRequest) -> PatientSource:
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        return self.fhir_source_for(server, token)

    def fhir_source_for(self, server: str, access_token: str | None) -> FhirPatientSource:
        """The call's FHIR server through this service's pools, limits and policy (the answer pool's reads too)."""
        auth = BearerToken(access_token) if access_token is not None else NoAuth()
        client = self.pool.client(server, auth, **self._fetch_policy())
        return FhirPatientSource(client, default_observation_codes(self.profile), page_size=self.page_size)

    async def _resources(
        self,
        request: HookRequest,
        context: PatientViewContext,
        prefetch: dict[str, Any] | None,
        fhir_bases: Sequence[BaseUrl] | None = None,
        tenant: str | None = None,
    ) -> tuple[list[Readable], list[DataProblem]]:
        fallback = self._fallback(request, fhir_bases)
        refused = request.fhirServer is not None and fallback is None
        source = self._prefetch_source(request, prefetch, fallback)
        try:
            if isinstance(fallback, FhirPatientSource):
                async with fallback.client.deadline(deadline_label(self.deadline_s), fetch_budget(self.deadline_s)):
                    swept = await self._swept(source, fallback, context.patientId, tenant)
                    if swept is not None:
                        source = self._prefetch_source(request, prefetch, _Fixed(swept))
                    result = await source.resolve(context.patientId)
            else:
                result = await source.resolve(context.patientId)
        except PrefetchUnavailable as exc:
            log.info("prefetch unavailable", extra={"keys": sorted(exc.reasons)})
            note = " (no FHIR base URLs are configured for this issuer, so nothing is fetched)" if refused else ""
            raise HookFailure(
                412,
                operation_outcome(
                    "data-unavailable",
                    "the patient's data was not prefetched and could not be fetched"
                    + note
                    + ": "
                    + "; ".join(f"{k}: {v}" for k, v in sorted(exc.reasons.items())),
                    fhir_code="not-found",
                ),
            ) from None
        except PatientNotFound as exc:
            # the source's own words: a 404 may also be a wrong base URL or a patient hidden from this client
            raise HookFailure(
                412,
                operation_outcome("patient-not-found", f"no such patient: {exc}", fhir_code="not-found"),
            ) from None
        except SourceError as exc:
            raise fetch_failure(exc) from None
        return _gathered(result)

    def _prefetch_source(
        self, request: HookRequest, prefetch: dict[str, Any] | None, fallback: PatientSource | None
    ) -> PrefetchSource:
        return PrefetchSource(
            prefetch,
            self.definition.prefetch,
            fallback,
            context=request.context,
            optional=self.definition.optional_prefetch,
        )

    async def _swept(
        self, source: PrefetchSource, fhir: FhirPatientSource, patient_id: str, tenant: str | None
    ) -> list[dict[str, Any]] | None:
        """The patient's data from the sweep's snapshot of this tenant and server plus the verified changes since,
        when the hook must fetch; None: fetch as usual. `tenant` None: the caller has no tenant, no snapshot."""
        if self.snapshots is None or tenant is None or not source.missing_keys(patient_id):
            return None
        state = await asyncio.to_thread(load_patient, self.snapshots, patient_id, tenant or None)
        if state is None or state.fhir_base_url is None or not state.snapshot:
            return None
        here = normalise_base_url(fhir.client.base_url)
        if here is None or normalise_base_url(state.fhir_base_url) != here:
            return None  # another server's patient of the same id
        resources = await swept_resources(
            fhir, patient_id, state.snapshot, state.last_fetched_at, tenant, state.snapshot_hash
        )
        log.info("swept snapshot", extra={"used": resources is not None})
        return resources

    async def handle(
        self, body: Any, fhir_bases: Sequence[BaseUrl] | None = None, tenant: str | None = None
    ) -> dict[str, Any]:
        """The cards for one hook call; raises HookFailure for a request that gets no cards. `fhir_bases`: the
        FHIR servers the caller's issuer may name as `fhirServer` (None: any, as with auth disabled). `tenant`:
        whose sweep snapshots may answer a fetch ("": the untenanted sweep, auth disabled; None: none)."""
        started = time.perf_counter()
        request, context, prefetch = self._validate(body)
        resources, gaps = await self._resources(request, context, prefetch, fhir_bases, tenant)
        return _answer(await self._cards_off_loop(resources, gaps, context.patientId), started)

    def answer_at_hand(self, body: Any, fhir_bases: Sequence[BaseUrl] | None = None) -> dict[str, Any] | None:
        """`handle`'s answer when the call reads nothing (its prefetch has every key and no Medication to look up),
        made in one piece on the calling thread (no hop for the cards); None: it needs I/O, `handle` it. Raises
        HookFailure as `handle` does. No tenant: a sweep's snapshot is only read for a key to fetch."""
        started = time.perf_counter()
        request, context, prefetch = self._validate(body)
        result = self._prefetch_source(request, prefetch, self._fallback(request, fhir_bases)).at_hand(
            context.patientId
        )
        if result is None:
            return None
        resources, gaps = _gathered(result)
        return _answer(self._cards(resources, gaps, context.patientId), started)

    async def _cards_off_loop(
        self, resources: list[Readable], gaps: list[DataProblem], patient_id: str
    ) -> list[dict[str, Any]]:
        # Extraction and evaluation are CPU work on a large record: on a worker thread the loop keeps answering.
        return await offload(self._cards, resources, gaps, patient_id)

    def _cards(self, resources: list[Readable], gaps: list[DataProblem], patient_id: str) -> list[dict[str, Any]]:
        record = extract_record(resources, self.profile, patient_id=patient_id)
        record.problems.extend(gaps)
        if any(p.code == "other-patient" for p in record.problems):
            # The core left them out, but data that mix patients are not to be trusted for advice at all.
            raise HookFailure(
                400,
                operation_outcome("wrong-patient", "the data given belong to another patient than context.patientId"),
            )
        assessment = evaluate(record, self.today(), self.profile)
        return render_cards(assessment, self.public_base_url, self.profile)


def _gathered(result: PrefetchResult) -> tuple[list[Readable], list[DataProblem]]:
    log.info(
        "data gathered",
        extra={
            "resources": len(result.resources),
            "prefetched": list(result.supplied),
            "fetched": list(result.fetched),
        },
    )
    return result.resources, _optional_gaps(result.unusable, result.unresolved)


def _answer(cards: list[dict[str, Any]], started: float) -> dict[str, Any]:
    log.info(
        "cards",
        extra={
            "cards": [c["source"]["topic"]["code"] for c in cards],
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return {"cards": cards}


@dataclass(frozen=True, slots=True)
class _Fixed:
    """A patient's data already in hand (the verified snapshot), as the prefetch's fallback source."""

    resources: list[dict[str, Any]]

    async def patient_resources(self, patient_id: str) -> list[Readable]:
        return list(self.resources)


def _optional_gaps(unusable: Mapping[str, str], unresolved: Mapping[str, str]) -> list[DataProblem]:
    """The optional searches the advice went without. One the EHR sent but that could not be read is a warning (a
    data-quality card: a G-CSF charted as a MedicationStatement, say, may have been missed); one it did not send,
    with no server to fetch it from, is recorded (info), since many EHRs never send optional prefetch."""
    gaps = []
    for key, why in sorted(unresolved.items()):
        sent = unusable.get(key) not in (None, "absent", "null")
        told = f"could not be read ({unusable[key]})" if sent else "was not sent"
        reason = f"prefetch {key!r} {told} and could not be fetched ({why}): advice was given without it"
        gaps.append(DataProblem(f"prefetch {key}", "prefetch-unusable", reason, "warning" if sent else "info"))
    return gaps
