"""Large hook calls answered in worker processes: the event loop's process never holds the GIL for them.

A thread (`sources._offload`) moves parsing and assessment off the event loop but not off its interpreter: orjson,
msgspec and the core hold the GIL, so `/healthz` waited behind a 1,500-Observation prefetch (p99 161 ms at
concurrency 32, bench/bench_throughput.py). Here the request's bytes go to a spawned process that built the same
profile and services at start-up, and the same `PatientViewService` code reads, assesses and renders there — one
patient, one answer. A call that needs I/O (a key to fetch, a Medication to look up, the demo cohort) comes back as
`None` the moment it would reach for it, and this process answers it the usual way.

Bounded: at most `queue_limit` calls in the pool (running or waiting); one more gets 503 with Retry-After. A worker
that dies (killed, out of memory) breaks the pool: its calls get 503 `worker-lost`, and the next call builds a new pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import Any

from cds_cyto.cds.discovery import load_services
from cds_cyto.cds.fhir_servers import BaseUrl
from cds_cyto.cds.messages import HookRequest
from cds_cyto.cds.outcome import operation_outcome
from cds_cyto.cds.patient_view import HookFailure, PatientViewService
from cds_cyto.cds.request_body import parse_body, read_hook_body
from cds_cyto.core.extract.record import DataProblem
from cds_cyto.core.profile import Profile, default_profile, load_profile
from cds_cyto.settings import Settings
from cds_cyto.sources import FhirPool, PatientSource, Readable, default_observation_codes

__all__ = ["AnswerPool", "site_profile"]

log = logging.getLogger("cds_cyto.cds")

RETRY_AFTER_S = 1  # the pool drains in about a call's time: a client may try again soon


def site_profile(settings: Settings) -> Profile:
    """The profile `settings` name: built the same way here and in every worker process."""
    if settings.site_file or settings.site_model:
        return load_profile(settings.site_file, site_model=settings.site_model)
    return default_profile()


# --- in the worker process ---------------------------------------------------------------------------------------


class _NeedsIO(Exception):
    """The call reached for the network or the demo files: the parent process answers it."""


class _NoQuery:
    """Stands in for the demo cohort: any read means the parent must answer."""

    async def patient_resources(self, patient_id: str) -> list[Readable]:
        raise _NeedsIO


class _NoFetch(_NoQuery):
    """Stands in for the request's `fhirServer` (a query source, so the prefetch reader asks it what it would ask)."""

    async def query(self, relative_url: str) -> list[dict[str, Any]]:
        raise _NeedsIO


@dataclasses.dataclass
class _Offline(PatientViewService):
    """The service with its I/O replaced by `_NeedsIO` and its CPU work run inline (this process has no loop to
    keep free)."""

    def _fhir_source(self, server: str, request: HookRequest) -> PatientSource:
        return _NoFetch()

    async def _cards_off_loop(
        self, resources: list[Readable], gaps: list[DataProblem], patient_id: str
    ) -> list[dict[str, Any]]:
        return self._cards(resources, gaps, patient_id)


class _Records(logging.Handler):
    """The worker's log records, handed back with the answer and emitted by the parent (its request id, its
    stream)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args, record.exc_info, record.exc_text = record.getMessage(), None, None, None
        self.records.append(record)


_services: dict[str, _Offline] = {}
_records = _Records()


def _start_worker(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_records]
    root.setLevel(logging.INFO)
    profile = site_profile(settings)
    demo = _NoQuery() if settings.demo else None
    for sid, definition in load_services(settings.hooks_dir, default_observation_codes(profile)).items():
        if definition.hook == "patient-view":
            _services[sid] = _Offline(
                definition,
                profile,
                FhirPool(max_connections=1, max_origins=1),  # never used: `_fhir_source` is replaced
                settings.public_base_url,
                demo,
                date.today,
            )
    gc.collect()
    gc.freeze()  # the profile and services live as long as the worker: out of every full collection's walk


def _ready() -> bool:
    return True


Outcome = tuple[str, Any, list[logging.LogRecord]]  # ("cards" | "failure" | "io", payload, log records)


def _answer(service_id: str, raw: bytes, today: date, fhir_bases: Sequence[BaseUrl] | None) -> Outcome:
    _records.records = []
    service = dataclasses.replace(_services[service_id], today=lambda: today)
    try:
        body = parse_body(raw, read_hook_body)
        answer = asyncio.run(service.handle(body, fhir_bases))
    except HookFailure as failure:
        return "failure", (failure.status, failure.outcome, failure.headers), _records.records
    except _NeedsIO:
        return "io", None, []  # the parent answers from the start, logging it all itself
    return "cards", answer, _records.records


# --- in the service's process ------------------------------------------------------------------------------------


class AnswerPool:
    """`processes` spawned workers for calls of at least `min_bytes`, at most `queue_limit` in the pool at once."""

    def __init__(self, settings: Settings, processes: int, queue_limit: int, min_bytes: int) -> None:
        self.settings = settings
        self.processes = processes
        self.queue_limit = queue_limit
        self.min_bytes = min_bytes
        self._lock = threading.Lock()  # the count is decremented on the executor's thread
        self._in_pool = 0
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),  # no copy of the parent's threads and loop
                    initializer=_start_worker,
                    initargs=(self.settings,),
                )
            return self._executor

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def start(self) -> None:
        """Spawn the workers now (each builds the profile), so the first large call does not wait for it."""
        pool = self._pool()
        for _ in range(self.processes):
            pool.submit(_ready)

    def _done(self, _future: Future[Outcome]) -> None:
        with self._lock:
            self._in_pool -= 1

    async def answer(
        self, service_id: str, raw: bytes, today: date, fhir_bases: Sequence[BaseUrl] | None
    ) -> dict[str, Any] | None:
        """The call's answer, or None when it needs I/O (answer it here); raises HookFailure."""
        with self._lock:
            full = self._in_pool >= self.queue_limit
            if not full:
                self._in_pool += 1
        if full:
            log.warning("answer pool full", extra={"limit": self.queue_limit})
            raise HookFailure(
                503,
                operation_outcome(
                    "busy", "too many large hook calls at once: try again shortly", fhir_code="transient"
                ),
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        pool = self._pool()
        try:
            future = pool.submit(_answer, service_id, raw, today, fhir_bases)
        except BrokenProcessPool:
            self._done_now()
            return self._lost(pool)
        except BaseException:
            self._done_now()
            raise
        future.add_done_callback(self._done)  # counted until the worker is done, even if this caller goes away
        try:
            kind, payload, records = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            return self._lost(pool)
        for record in records:
            logging.getLogger(record.name).handle(record)
        if kind == "failure":
            status, outcome, headers = payload
            raise HookFailure(status, outcome, headers)
        if kind == "io":
            return None
        answer: dict[str, Any] = payload
        return answer

    def _done_now(self) -> None:
        with self._lock:
            self._in_pool -= 1

    def _lost(self, pool: ProcessPoolExecutor) -> dict[str, Any]:
        log.error("answer pool worker lost: a new pool is started")
        self._discard(pool)
        raise HookFailure(
            503,
            operation_outcome(
                "worker-lost", "the process answering this call stopped: try again", fhir_code="transient"
            ),
            {"Retry-After": str(RETRY_AFTER_S)},
        )

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
